"""Queries that more than one package needs: each a constant beside the typed function that
runs it."""
