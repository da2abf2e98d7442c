"""Fixtures of the pages' tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.pages.support import page_client


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def pages(database_url: str) -> Iterator[TestClient]:
    with page_client(database_url) as client:
        yield client
