"""Fixtures of the notification tests: a receiver of robots and webhooks, a real SMTP server,
and a site with its crew in the session's database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from notifications.channels.email import EmailChannel
from tests.maintenance.support import World, make_world
from tests.notifications.robot_receiver import RobotReceiver
from tests.notifications.support import Mailbox, smtp_server


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture
def world(database_url: str, conn: psycopg.Connection[Any]) -> World:
    return make_world(database_url, conn, items=3, members=2)


@pytest.fixture
def robots() -> Iterator[RobotReceiver]:
    with RobotReceiver(hang_s=3.0) as receiver:
        yield receiver


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[tuple[Mailbox, EmailChannel]]:
    with smtp_server(tmp_path) as served:
        yield served
