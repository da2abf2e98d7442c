"""The domain core of fitmon: codes, catalogs and the device protocol v1, with no I/O."""
