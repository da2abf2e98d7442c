"""The fitmon HTTP API (FastAPI): registry lookups and health; later issues add the rest."""
