"""Turning the reviewed files into Grafana HTTP API request bodies: pure, no network.

The same files feed Grafana's own file provisioning (docker-compose) and `dashboards.provision`,
so the datasource YAML is expanded as Grafana expands it (its pkg/services/provisioning/values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent
DASHBOARDS_DIR = PACKAGE_DIR / "json"
DATASOURCE_FILE = PACKAGE_DIR / "provisioning" / "datasources" / "fitmon.yaml"
FOLDER_UID = "fitmon"
FOLDER_TITLE = "fitmon"

# Grafana expands $NAME, ${NAME} and its own $__env{NAME} / $__file{path}; `$$` is a literal `$`.
_EXPANDER_RE = re.compile(r"\$__(?P<kind>[a-z]+)\{(?P<arg>[^}]*)\}")
_ENV_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z0-9_]+)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
# Top-level datasource fields the HTTP API accepts (POST /api/datasources); provisioning-only
# fields such as orgId, editable and version are left out.
_DATASOURCE_API_FIELDS = (
    "name",
    "type",
    "uid",
    "access",
    "url",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "jsonData",
    "secureJsonData",
)
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?")
_GO_TRUE = frozenset({"t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"f", "F", "FALSE", "false", "False"})


class ProvisioningError(ValueError):
    """A dashboard or datasource file that cannot be provisioned; the message names the file."""


@dataclass
class Expansion:
    """Expands variables from `environ`, remembering the names that were not set."""

    environ: Mapping[str, str]
    missing: set[str] = field(default_factory=set)

    def text(self, value: str) -> str:
        return "$".join(self._expand_part(part) for part in value.split("$$"))

    def typed(self, value: object) -> object:
        """Expand strings inside `value`; a string that was only variables and now reads as a
        number or Go boolean becomes one (Grafana 9.4+, jsonData only)."""
        if isinstance(value, dict):
            return {str(k): self.typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.typed(v) for v in value]
        if not isinstance(value, str):
            return value
        expanded = self.text(value)
        if expanded == value:
            return value
        return _parse_scalar(expanded)

    def _expand_part(self, part: str) -> str:
        def expander(match: re.Match[str]) -> str:
            kind, arg = match["kind"], match["arg"]
            if kind == "env":
                return self._lookup(arg)
            if kind == "file":
                try:
                    return Path(arg).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ProvisioningError(f"$__file{{{arg}}} cannot be read: {exc}") from None
            raise ProvisioningError(f"unsupported expander $__{kind}{{{arg}}}")

        part = _EXPANDER_RE.sub(expander, part)
        return _ENV_RE.sub(lambda m: self._lookup(m["braced"] or m["bare"]), part)

    def _lookup(self, name: str) -> str:
        if name not in self.environ:
            self.missing.add(name)
            return ""
        return self.environ[name]


def _parse_scalar(text: str) -> object:
    if _INT_RE.fullmatch(text):
        return int(text)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    return text


def load_dashboards(directory: Path = DASHBOARDS_DIR) -> list[dict[str, Any]]:
    """Every `*.json` dashboard in `directory`, sorted by file name; uids must be unique."""
    boards: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}
    files = sorted(directory.glob("*.json"))
    if not files:
        raise ProvisioningError(f"no dashboard JSON files in {directory}")
    for path in files:
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProvisioningError(f"{path}: not a readable JSON file: {exc}") from None
        if not isinstance(board, dict):
            raise ProvisioningError(f"{path}: a dashboard must be a JSON object")
        uid, title, panels = board.get("uid"), board.get("title"), board.get("panels")
        if not isinstance(uid, str) or not uid or not isinstance(title, str) or not title:
            raise ProvisioningError(f"{path}: a dashboard needs a non-empty uid and title")
        if not isinstance(panels, list):
            raise ProvisioningError(f"{path}: panels must be a list")
        if uid in seen:
            raise ProvisioningError(f"{path}: uid {uid!r} is already used by {seen[uid]}")
        seen[uid] = path
        boards.append(board)
    return boards


def load_datasources(
    path: Path = DATASOURCE_FILE, environ: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The datasources of a provisioning file, variables expanded from `environ`.

    Grafana silently expands an unset variable to ""; here that is an error naming every unset
    variable, so a half-configured datasource is never pushed.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProvisioningError(f"{path}: not a readable YAML file: {exc}") from None
    entries = document.get("datasources") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ProvisioningError(f"{path}: no `datasources:` list")
    expansion = Expansion(environ if environ is not None else {})
    datasources = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("uid") or not entry.get("name"):
            raise ProvisioningError(f"{path}: every datasource needs a name and a uid: {entry!r}")
        datasources.append(_expand_datasource(entry, expansion))
    if expansion.missing:
        names = ", ".join(sorted(expansion.missing))
        raise ProvisioningError(f"{path}: environment variables not set: {names}")
    return datasources


def _expand_datasource(entry: Mapping[str, Any], expansion: Expansion) -> dict[str, Any]:
    expanded: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "jsonData":
            expanded[key] = expansion.typed(value or {})
        elif key == "secureJsonData":
            expanded[key] = {str(k): expansion.text(str(v)) for k, v in (value or {}).items()}
        elif isinstance(value, str):
            expanded[key] = expansion.text(value)
        else:
            expanded[key] = value
    return expanded


def datasource_payload(datasource: Mapping[str, Any]) -> dict[str, Any]:
    """The body of POST /api/datasources and PUT /api/datasources/uid/<uid>."""
    return {key: datasource[key] for key in _DATASOURCE_API_FIELDS if key in datasource}


def dashboard_payload(
    dashboard: Mapping[str, Any], *, folder_uid: str = FOLDER_UID, message: str = ""
) -> dict[str, Any]:
    """The body of POST /api/dashboards/db: overwrite whatever has the same uid (idempotent)."""
    body = {key: value for key, value in dashboard.items() if key != "id"}
    body["id"] = None  # a numeric id belongs to one Grafana instance; the uid is the identity
    return {
        "dashboard": body,
        "folderUid": folder_uid,
        "overwrite": True,
        "message": message or f"fitmon: provisioned {dashboard['uid']}",
    }


def datasource_refs(dashboard: Mapping[str, Any]) -> Iterable[tuple[str, object]]:
    """(where, datasource uid) for every panel, target and query variable of a dashboard."""
    for panel in dashboard.get("panels", []):
        where = f"panel {panel.get('id')} ({panel.get('title')!r})"
        yield where, (panel.get("datasource") or {}).get("uid")
        for target in panel.get("targets", []):
            yield (
                f"{where} target {target.get('refId')}",
                (target.get("datasource") or {}).get("uid"),
            )
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield f"variable {variable.get('name')}", (variable.get("datasource") or {}).get("uid")


def unknown_datasource_refs(
    dashboards: Iterable[Mapping[str, Any]], known_uids: set[str]
) -> list[str]:
    """Every reference to a datasource uid outside `known_uids`, described for a person."""
    return [
        f"{board['uid']}: {where} uses datasource uid {uid!r}"
        for board in dashboards
        for where, uid in datasource_refs(board)
        if uid not in known_uids
    ]


@dataclass(frozen=True, slots=True)
class ProvisionPlan:
    """The API calls `dashboards.provision` makes, in order: folder, datasources, dashboards."""

    folder_uid: str
    folder_title: str
    datasources: list[dict[str, Any]]
    dashboards: list[dict[str, Any]]


def build_plan(
    *,
    dashboards_dir: Path = DASHBOARDS_DIR,
    datasource_file: Path | None = DATASOURCE_FILE,
    environ: Mapping[str, str] | None = None,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
) -> ProvisionPlan:
    """Read and check the files; `datasource_file=None` pushes dashboards only."""
    boards = load_dashboards(dashboards_dir)
    if datasource_file is None:
        datasources: list[dict[str, Any]] = []
    else:
        datasources = [datasource_payload(d) for d in load_datasources(datasource_file, environ)]
        problems = unknown_datasource_refs(boards, {str(d["uid"]) for d in datasources})
        if problems:
            raise ProvisioningError(
                f"dashboards refer to datasources {datasource_file} does not define:\n"
                + "\n".join(problems)
            )
    return ProvisionPlan(
        folder_uid,
        folder_title,
        datasources,
        [dashboard_payload(b, folder_uid=folder_uid) for b in boards],
    )
