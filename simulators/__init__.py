"""The simulated fleet: a believable city of equipment that speaks only protocol v1, and its ledger.

It imports devices/ and paho, never ingest, api, db or psycopg (an import-linter contract).
"""
