"""QR tags for equipment (一物一码): what a tag says, how it is laid out on a label, and the SVG,
PNG and PDF-sheet renderings. Pure rendering: callers bring the registry's rows."""
