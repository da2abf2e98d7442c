"""`fitmon people add`: a city's first admin from the command line, who can then sign in."""

from __future__ import annotations

from click.testing import CliRunner
from fastapi.testclient import TestClient

from cli.main import fitmon
from tests.api.conftest import api_client
from tests.api.roles_support import PASSWORD, new_login
from tests.support import scalar


def test_the_first_admin_is_added_from_the_command_line_and_signs_in(database_url: str) -> None:
    login = new_login("admin")
    args = ["people", "add", "--login", login, "--name", "City admin", "--role", "admin"]
    result = CliRunner().invoke(
        fitmon, [*args, "--password-stdin", "--database-url", database_url], input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert f"{login} (admin)" in result.output
    client: TestClient
    with api_client(database_url) as client:
        signed_in = client.post("/api/v1/session", json={"login": login, "password": PASSWORD})
    assert signed_in.status_code == 201
    assert signed_in.json()["me"]["role"] == "admin"


def test_a_weak_password_or_a_taken_login_is_refused_with_the_reason(database_url: str) -> None:
    login = new_login("manager")
    args = ["people", "add", "--login", login, "--name", "M", "--role", "manager"]
    url = ["--district", "970111", "--password-stdin", "--database-url", database_url]
    weak = CliRunner().invoke(fitmon, [*args, *url], input="12345\n")
    assert weak.exit_code == 1
    assert "at least 10 characters" in weak.output
    assert scalar(database_url, "SELECT count(*) FROM people WHERE login = %s", login) == 0
    assert CliRunner().invoke(fitmon, [*args, *url], input=PASSWORD + "\n").exit_code == 0
    taken = CliRunner().invoke(fitmon, [*args, *url], input=PASSWORD + "\n")
    assert taken.exit_code == 1
    assert "is taken" in taken.output
