"""Tags against the session's database: an API whose public address is set, staff tokens, and
reading QR codes back from rendered images (zxing-cpp)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings

PUBLIC_URL = "https://fitmon.example.cn/"


def decoded_qr_texts(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image)
    qr = zxingcpp.BarcodeFormat.QRCode
    return sorted(result.text for result in found if result.valid and result.format == qr)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def tag_client(database_url: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        env="test",
        database_url=SecretStr(database_url),
        public_url=PUBLIC_URL,
    )
    with TestClient(create_app(settings)) as client:
        yield client
