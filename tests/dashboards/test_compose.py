"""docker-compose.yml, the Dockerfile and .dockerignore hang together (no Docker engine here: the
files are parsed and cross-checked against the repository and against each other)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from dashboards.payloads import PACKAGE_DIR, load_datasources

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, Any] = COMPOSE["services"]
PROVIDER = yaml.safe_load(
    (PACKAGE_DIR / "provisioning" / "dashboards" / "fitmon.yaml").read_text(encoding="utf-8")
)["providers"][0]
_COMPOSE_VAR = re.compile(r"\$\{([A-Z_]+)(?::-([^}]*))?\}")


def compose_defaults(value: str) -> str:
    """Compose's interpolation with nothing set in the environment: ${NAME:-default}."""
    return _COMPOSE_VAR.sub(lambda m: m[2] or "", value)


def environment(service: str) -> dict[str, str]:
    return {k: compose_defaults(str(v)) for k, v in SERVICES[service]["environment"].items()}


def binds(service: str) -> dict[str, str]:
    """Container path -> host path of the service's bind mounts (host paths start with ./)."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = source
    return found


def test_the_stack_has_its_services_and_pinned_images() -> None:
    assert set(SERVICES) >= {
        *("timescaledb", "mosquitto", "broker-auth", "migrate", "ingest", "maintenance", "api"),
        *("notify", "grafana", "simulator"),
    }
    assert SERVICES["timescaledb"]["image"] == "timescale/timescaledb:2.17.2-pg16"
    assert SERVICES["mosquitto"]["image"] == "eclipse-mosquitto:2.0.20"
    assert SERVICES["grafana"]["image"] == "grafana/grafana-oss:11.4.0"
    for name, service in SERVICES.items():
        image = service["image"]
        if "build" in service:
            assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
            assert image == "fitmon:${FITMON_VERSION:-dev}", name
        else:  # a version to the patch level: the same stack on every machine
            assert re.fullmatch(r"[a-z/-]+:[0-9]+\.[0-9]+\.[0-9]+(-pg[0-9]+)?", image), image
    assert SERVICES["simulator"]["profiles"] == ["demo"]
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["ingest"]["command"] == ["ingest"]
    assert SERVICES["maintenance"]["command"] == ["maintenance"]
    assert SERVICES["api"]["command"] == ["api"]
    assert SERVICES["notify"]["command"] == ["notify"]


def test_every_long_running_service_has_a_health_check_and_restarts() -> None:
    one_shot = {"migrate", "broker-auth", "simulator"}
    for name, service in SERVICES.items():
        if name in one_shot:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        assert len(test) > 1, name
    assert environment("api")["FITMON_API_HOST"] == "0.0.0.0"
    assert "127.0.0.1:8000/healthz" in SERVICES["api"]["healthcheck"]["test"][-1]
    assert SERVICES["ingest"]["depends_on"]["mosquitto"] == {"condition": "service_healthy"}


def _entrypoint_default(name: str) -> str:
    """A setting's container default in deploy/mosquitto-entrypoint.sh: name=${NAME:-default}."""
    script = (ROOT / "deploy" / "mosquitto-entrypoint.sh").read_text(encoding="utf-8")
    [default] = re.findall(rf"^\w+=\$\{{{name}:-([^}}]*)\}}$", script, re.MULTILINE)
    return str(default)


def _broker_auth_files(args: list[str]) -> dict[str, str]:
    return {name: args[args.index(f"--{name}-file") + 1] for name in ("password", "acl")}


def test_the_broker_reloads_the_password_file_and_acl_that_broker_auth_writes() -> None:
    command = SERVICES["broker-auth"]["command"]
    assert command[0] == "broker-auth"
    written = _broker_auth_files(command)
    [auth_volume] = [
        v for v in SERVICES["broker-auth"]["volumes"] if v.startswith("mosquitto-auth:")
    ]
    mount = auth_volume.split(":")[1]
    assert written == {"password": f"{mount}/passwd", "acl": f"{mount}/acl"}
    assert f"mosquitto-auth:{mount}:ro" in SERVICES["mosquitto"]["volumes"]
    # The entrypoint copies broker-auth's files from the volume to where the configuration reads
    # them, and sends SIGHUP when they change (tests/dashboards/test_mosquitto_reload.py).
    mosquitto = SERVICES["mosquitto"]
    script = binds("mosquitto")[mosquitto["entrypoint"][1]]
    assert (mosquitto["entrypoint"][0], script) == ("/bin/sh", "./deploy/mosquitto-entrypoint.sh")
    assert mosquitto["command"] == ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
    assert _entrypoint_default("FITMON_AUTH_WRITTEN") == mount
    loaded = _entrypoint_default("FITMON_AUTH_LOADED")
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    settings = [line.split(None, 1) for line in conf.splitlines() if line and line[0] != "#"]
    read = {value for key, value in settings if key in {"password_file", "acl_file"}}
    assert read == {f"{loaded}/passwd", f"{loaded}/acl"}
    assert SERVICES["mosquitto"]["depends_on"]["broker-auth"] == {
        "condition": "service_completed_successfully"
    }
    assert ["allow_anonymous", "false"] in settings
    assert ["persistence", "true"] in settings
    queued = dict(settings)
    assert int(queued["max_queued_messages"]) >= 1_000_000  # the default 1000 drops QoS 1
    assert int(queued["max_queued_bytes"]) >= 1_000_000_000
    ingest = environment("ingest")
    assert ingest["FITMON_MQTT_USERNAME"] == environment("broker-auth")["FITMON_MQTT_USERNAME"]
    assert ingest["FITMON_MQTT_PASSWORD"] == environment("broker-auth")["FITMON_MQTT_PASSWORD"]


def test_the_demo_simulator_gives_its_city_broker_logins_before_it_runs() -> None:
    [script] = SERVICES["simulator"]["command"]
    steps = [step.strip().split() for step in script.split("&&")]
    assert [step[:3] for step in steps[:2]] == [
        ["fitmon", "simulate", "city"],
        ["fitmon", "registry", "import"],
    ]
    assert steps[2][:2] == ["fitmon", "broker-auth"]
    assert _broker_auth_files(steps[2]) == _broker_auth_files(SERVICES["broker-auth"]["command"])
    assert steps[3][:4] == ["exec", "fitmon", "simulate", "run"]
    assert float(steps[3][steps[3].index("--sign-in-wait") + 1]) >= 30  # Mosquitto reloads
    assert "mosquitto-auth:/mosquitto/auth" in SERVICES["simulator"]["volumes"]
    simulator, broker_auth = environment("simulator"), environment("broker-auth")
    assert {k: simulator[k] for k in broker_auth} == broker_auth
    assert len(broker_auth["FITMON_BROKER_SECRET"]) >= 16  # BrokerAuthSettings' minimum
    # broker-auth runs as the image's user: the volume's first mount point must be its own
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "install -d -o fitmon -g fitmon -m 700 /mosquitto/auth" in dockerfile


def test_migrate_applies_the_raw_retention_setting() -> None:
    env = environment("migrate")
    assert env["FITMON_RAW_RETENTION_DAYS"] == "400"
    assert "FITMON_RAW_RETENTION_DAYS=400" in (ROOT / ".env.example").read_text(encoding="utf-8")


def test_env_example_sets_every_secret_the_compose_file_defaults() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    secrets = {
        m[0] for m in _COMPOSE_VAR.findall(text) if m[0].endswith(("PASSWORD", "SECRET", "KEY"))
    }
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert secrets == {k for k in example if k.endswith(("PASSWORD", "SECRET", "KEY"))}
    assert all(example[name] for name in secrets)
    assert example["FITMON_ENV"] == "prod"


def test_every_bind_mount_comes_from_the_repository() -> None:
    for name in SERVICES:
        for source in binds(name).values():
            assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    assert binds("mosquitto") == {
        "/mosquitto/config/mosquitto.conf": "./deploy/mosquitto.conf",
        "/fitmon/mosquitto-entrypoint.sh": "./deploy/mosquitto-entrypoint.sh",
    }
    named = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])}
    assert set(COMPOSE["volumes"]) == {n for n in named if not n.startswith("./")}


def test_ingest_reaches_the_database_and_broker_and_serves_metrics() -> None:
    env = environment("ingest")
    assert env["FITMON_DATABASE_URL"].endswith("@timescaledb:5432/fitmon")
    for name in ("maintenance", "api", "notify", "broker-auth", "simulator"):
        assert environment(name)["FITMON_DATABASE_URL"] == env["FITMON_DATABASE_URL"], name
    assert env["FITMON_DATABASE_URL"] == environment("migrate")["FITMON_DATABASE_URL"]
    assert env["FITMON_MQTT_URL"] == "mqtt://mosquitto:1883"
    assert (env["FITMON_METRICS_HOST"], env["FITMON_METRICS_PORT"]) == ("0.0.0.0", "9108")
    assert "127.0.0.1:9108:9108" in SERVICES["ingest"]["ports"]
    assert SERVICES["ingest"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }
    db_password = environment("timescaledb")["POSTGRES_PASSWORD"]
    assert f"postgres:{db_password}@" in env["FITMON_DATABASE_URL"]


def test_grafana_mounts_the_provisioning_and_the_dashboards_where_the_provider_looks() -> None:
    mounts = binds("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert mounts[PROVIDER["options"]["path"]] == "./dashboards/json"
    assert "3000:3000" in SERVICES["grafana"]["ports"]
    home = environment("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "dashboards" / "json" / Path(home).name).is_file()


def test_grafana_environment_sets_every_datasource_variable_and_matches_the_reader_role() -> None:
    env = environment("grafana")
    [datasource] = load_datasources(environ=env)  # raises if a variable is missing
    assert datasource["url"] == "timescaledb:5432"
    assert datasource["jsonData"]["timescaledb"] is True  # the timescaledb image has it
    database = environment("timescaledb")
    assert datasource["user"] == database["FITMON_GRAFANA_DB_USER"]
    assert datasource["secureJsonData"]["password"] == database["FITMON_GRAFANA_DB_PASSWORD"]
    assert datasource["jsonData"]["database"] == database["POSTGRES_DB"]
    [(target, source)] = binds("timescaledb").items()
    assert target.startswith("/docker-entrypoint-initdb.d/")
    required = re.findall(r"\$\{([A-Z_]+):\?", (ROOT / source).read_text(encoding="utf-8"))
    assert set(required) == {
        "POSTGRES_USER",
        "POSTGRES_DB",
        "FITMON_GRAFANA_DB_USER",
        "FITMON_GRAFANA_DB_PASSWORD",
    }
    assert set(required) <= set(database)


def test_dockerfile_builds_a_non_root_fitmon_image_on_python_311_slim() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [line for line in lines if line.startswith("FROM")] == [
        "FROM python:3.11-slim AS build",
        "FROM python:3.11-slim",
    ]
    assert "RUN pip wheel --wheel-dir /wheels ." in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "the image must not run as root"
    assert users[-1] not in {"root", "0"}
    assert 'ENTRYPOINT ["fitmon"]' in lines


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    needed = ["pyproject.toml", project["readme"], "db/migrations/0001_registry.sql"]
    needed += [str(p.relative_to(ROOT)) for p in (ROOT / "dashboards").rglob("*.*")]
    for path in needed:
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            bare = pattern.removeprefix("**/")
            assert not any(fnmatch.fnmatch(p, bare) for p in prefixes), (path, pattern)
    assert {".git", ".venv", "tests"} <= set(patterns)


def test_installed_package_data_covers_the_dashboard_files() -> None:
    # setuptools globs each package-data pattern relative to the package directory
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["dashboards"]
    shipped = {path for pattern in patterns for path in PACKAGE_DIR.glob(pattern)}
    assert set((PACKAGE_DIR / "json").glob("*.json")) <= shipped
