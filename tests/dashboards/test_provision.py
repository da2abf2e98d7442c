"""Provisioning: the request bodies built from the files, and the CLI's real HTTP calls made with
grafana-client to a recording stand-in for Grafana on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboards.payloads import (
    DASHBOARDS_DIR,
    DATASOURCE_FILE,
    Expansion,
    ProvisioningError,
    build_plan,
    load_dashboards,
    load_datasources,
)
from dashboards.provision import provision
from db.embedded import free_port
from tests.dashboards.fake_grafana import FakeGrafana

DATASOURCE_ENV = {
    "FITMON_GRAFANA_DB_HOST": "timescaledb:5432",
    "FITMON_GRAFANA_DB_NAME": "fitmon",
    "FITMON_GRAFANA_DB_USER": "grafana_reader",
    "FITMON_GRAFANA_DB_PASSWORD": "s3cret$",
    "FITMON_GRAFANA_DB_SSLMODE": "disable",
    "FITMON_GRAFANA_TIMESCALEDB": "true",
}


SIGN_IN = ("URL", "TOKEN", "USER", "PASSWORD")


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana(token="glsa_test_token").start()
    yield fake
    fake.stop()


def run_cli(*args: str) -> tuple[int, str]:
    # Sign-in settings come only from the arguments, whatever the developer's shell exports.
    unset: dict[str, str | None] = {f"FITMON_GRAFANA_{k}": None for k in SIGN_IN}
    result = CliRunner().invoke(provision, list(args), env={**DATASOURCE_ENV, **unset})
    return result.exit_code, result.output


def test_datasource_payload_expands_variables_the_way_grafana_does() -> None:
    plan = build_plan(environ={**DATASOURCE_ENV, "FITMON_GRAFANA_TIMESCALEDB": "false"})
    assert plan.datasources == [
        {
            "name": "fitmon",
            "type": "grafana-postgresql-datasource",
            "uid": "fitmon-postgres",
            "access": "proxy",
            "url": "timescaledb:5432",
            "user": "grafana_reader",
            "isDefault": False,
            "jsonData": {
                "database": "fitmon",
                "sslmode": "disable",
                "postgresVersion": 1600,
                "timescaledb": False,  # a variable that reads false becomes a boolean
                "maxOpenConns": 10,
                "maxIdleConns": 2,
                "connMaxLifetime": 14400,
            },
            "secureJsonData": {"password": "s3cret$"},
        }
    ]


def test_dashboard_payloads_overwrite_by_uid_into_the_folder() -> None:
    plan = build_plan(environ=DATASOURCE_ENV, folder_uid="parks")
    files = load_dashboards()
    assert [p["dashboard"]["uid"] for p in plan.dashboards] == [b["uid"] for b in files]
    for payload, board in zip(plan.dashboards, files, strict=True):
        assert payload["overwrite"] is True
        assert payload["folderUid"] == "parks"
        assert payload["dashboard"]["id"] is None
        assert payload["dashboard"]["panels"] == board["panels"]
        assert json.loads(json.dumps(payload)) == payload  # plain JSON, as the API takes it


def test_unset_variables_are_all_named() -> None:
    environ = {k: v for k, v in DATASOURCE_ENV.items() if not k.endswith(("HOST", "PASSWORD"))}
    with pytest.raises(ProvisioningError) as caught:
        load_datasources(DATASOURCE_FILE, environ)
    assert "FITMON_GRAFANA_DB_HOST, FITMON_GRAFANA_DB_PASSWORD" in str(caught.value)


def test_expansion_follows_grafana_rules(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-a-file\n")
    expansion = Expansion({"A": "x", "N": "42", "F": "0.5", "B": "False"})
    assert expansion.text("$A-${A}-$$A-$__env{A}") == "x-x-$A-x"
    assert expansion.text(f"$__file{{{secret}}}") == "from-a-file"
    assert expansion.typed({"n": "$N", "f": "${F}", "b": "$B", "s": "n=$N", "k": "true"}) == {
        "n": 42,
        "f": 0.5,
        "b": False,
        "s": "n=42",  # only a value that is nothing but variables changes type
        "k": "true",  # a literal string stays a string
    }
    assert not expansion.missing


def test_a_dashboard_pointing_at_another_datasource_is_refused(tmp_path: Path) -> None:
    for path in DASHBOARDS_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text().replace("fitmon-postgres", "other"))
    with pytest.raises(ProvisioningError, match="uses datasource uid 'other'"):
        build_plan(dashboards_dir=tmp_path, environ=DATASOURCE_ENV)
    assert build_plan(dashboards_dir=tmp_path, datasource_file=None).datasources == []


def test_two_dashboards_with_one_uid_are_refused(tmp_path: Path) -> None:
    source = next(DASHBOARDS_DIR.glob("*.json")).read_text()
    (tmp_path / "a.json").write_text(source)
    (tmp_path / "b.json").write_text(source)
    with pytest.raises(ProvisioningError, match="already used by"):
        load_dashboards(tmp_path)


def test_cli_pushes_everything_and_a_second_run_changes_nothing_but_versions(
    grafana: FakeGrafana,
) -> None:
    env = {**os.environ, **DATASOURCE_ENV, "FITMON_GRAFANA_TOKEN": "glsa_test_token"}
    first = subprocess.run(
        [sys.executable, "-m", "dashboards.provision", "--url", grafana.url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    assert "folder fitmon: created" in first.stdout
    assert "datasource fitmon-postgres: created" in first.stdout
    state = (dict(grafana.folders), dict(grafana.datasources))

    code, output = run_cli("--url", grafana.url, "--token", "glsa_test_token")
    assert code == 0, output
    assert "folder fitmon: exists" in output
    assert "datasource fitmon-postgres: updated" in output
    assert (grafana.folders, grafana.datasources) == state
    plan = build_plan(environ=DATASOURCE_ENV)
    assert grafana.datasources["fitmon-postgres"] == {**plan.datasources[0], "id": 1}
    assert sorted(grafana.dashboards) == sorted(b["uid"] for b in load_dashboards())
    for payload in plan.dashboards:
        saved = grafana.dashboards[payload["dashboard"]["uid"]]
        assert saved["dashboard"] == payload["dashboard"]
        assert saved["version"] == 2
    assert {r.authorization for r in grafana.requests} == {"Bearer glsa_test_token"}


def test_cli_signs_in_with_a_user_and_password() -> None:
    fake = FakeGrafana(basic=("admin", "pa:ss")).start()
    try:
        code, output = run_cli("--url", fake.url, "--user", "admin", "--password", "pa:ss")
    finally:
        fake.stop()
    assert code == 0, output
    assert len(fake.dashboards) == len(load_dashboards())


def test_a_datasource_grafana_provisioned_from_files_is_left_alone(grafana: FakeGrafana) -> None:
    grafana.datasources["fitmon-postgres"] = {"uid": "fitmon-postgres", "id": 7, "readOnly": True}
    code, output = run_cli("--url", grafana.url, "--token", "glsa_test_token")
    assert code == 0, output
    assert "provisioned from files in Grafana, left as it is" in output
    assert not [r for r in grafana.requests if r.method == "PUT"]


def test_a_wrong_token_fails_with_grafanas_answer(grafana: FakeGrafana) -> None:
    code, output = run_cli("--url", grafana.url, "--token", "wrong")
    assert code == 1
    assert f"Grafana at {grafana.url} refused: Unauthorized" in output
    assert not grafana.dashboards


def test_unreachable_grafana_and_missing_credentials_are_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output = run_cli("--url", url, "--token", "t")
    assert code == 1
    assert f"cannot reach Grafana at {url}" in output
    code, output = run_cli("--url", url)
    assert code == 1
    assert "no Grafana credentials" in output


def test_dry_run_prints_the_bodies_without_the_password() -> None:
    code, output = run_cli("--dry-run")
    assert code == 0, output
    printed = json.loads(output)
    assert printed["datasources"][0]["secureJsonData"] == {"password": "<set>"}
    assert "s3cret" not in output
    assert len(printed["dashboards"]) == len(load_dashboards())
