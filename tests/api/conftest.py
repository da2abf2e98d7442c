"""An API app per test on the session's database; TestClient runs its lifespan, so its pool."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings


def api_client(database_url: str) -> TestClient:
    return TestClient(create_app(ApiSettings(env="test", database_url=SecretStr(database_url))))


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with api_client(database_url) as test_client:
        yield test_client
