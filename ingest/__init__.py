"""Ingest: device protocol v1 from MQTT into the time-series store, each message stored once."""
