"""A dashboard checked against Grafana's own dashboard schema, through grafana-foundation-sdk.

The SDK's models are generated from Grafana's schema (the dashboard kind and each panel plugin's
options and field config) but only build: `from_json` assigns what it is given. So the check is
done in two steps: the dashboard goes through the models and back, and every field the schema
does not know (dropped on the way) is a problem; then every value the models hold is checked
against the type the schema gives it (enums, literals, numbers, strings, lists, nested objects).
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

register_default_plugins()  # so each panel's options and field config get their plugin's model


def schema_problems(board: Mapping[str, Any]) -> list[str]:
    """Every field of `board` Grafana's schema does not know, and every value of the wrong type."""
    model = Dashboard.from_json(dict(board))
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    problems = [f"{path}: not in Grafana's dashboard schema" for path in _dropped(board, again)]
    _check_value(model, Dashboard, "", problems)
    return problems


def _dropped(given: object, kept: object, path: str = "") -> list[str]:
    if isinstance(given, Mapping) and isinstance(kept, Mapping):
        found = []
        for key, value in given.items():
            if key not in kept:
                found.append(f"{path}/{key}")
            else:
                found += _dropped(value, kept[key], f"{path}/{key}")
        return found
    if isinstance(given, list) and isinstance(kept, list):
        return [
            p
            for i, (a, b) in enumerate(zip(given, kept, strict=False))
            for p in _dropped(a, b, f"{path}[{i}]")
        ]
    return []


def _count(found: list[str]) -> int:
    return len(found)


def _is_model(hint: object) -> bool:
    return isinstance(hint, type) and hasattr(hint, "from_json") and hasattr(hint, "to_json")


def _accepts(value: object, hint: object, path: str) -> list[str]:
    """The problems of `value` as a `hint`; empty when it fits."""
    problems: list[str] = []
    _check_value(value, hint, path, problems)
    return problems


def _check_value(value: object, hint: object, path: str, problems: list[str]) -> None:
    origin = typing.get_origin(hint)
    if hint is typing.Any or hint is object:
        if _is_model(type(value)):  # a plugin's options or field config, typed by its plugin
            _check_value(value, type(value), path, problems)
        return
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return
        matching = [o for o in options if _is_model(o) and isinstance(value, o)]
        if matching:
            _check_value(value, matching[0], path, problems)
            return
        reasons = [_accepts(value, option, path) for option in options if option is not type(None)]
        if reasons and all(reasons):
            problems.extend(sorted(reasons, key=_count)[0])
        return
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            problems.append(f"{path}: {value!r} is not one of {typing.get_args(hint)}")
        return
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{path}: {value!r} is not a list")
            return
        (item,) = typing.get_args(hint) or (typing.Any,)
        for i, element in enumerate(value):
            _check_value(element, item, f"{path}[{i}]", problems)
        return
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{path}: {value!r} is not an object")
        return
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = {member.value for member in hint}
        if (value.value if isinstance(value, enum.Enum) else value) not in allowed:
            problems.append(f"{path}: {value!r} is not one of {sorted(map(str, allowed))}")
        return
    if _is_model(hint):
        if isinstance(value, dict):  # a part the SDK's from_json leaves as it was given
            value = hint.from_json(value)  # type: ignore[attr-defined]
        if not isinstance(value, hint):  # type: ignore[arg-type]
            problems.append(f"{path}: {value!r} is not a {hint.__name__}")  # type: ignore[attr-defined]
            return
        for name, field_hint in typing.get_type_hints(type(value)).items():
            _check_value(getattr(value, name, None), field_hint, f"{path}/{name}", problems)
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{path}: {value!r} is not a number")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: {value!r} is not an integer")
        return
    if (hint is str or hint is bool) and not isinstance(value, hint):
        problems.append(f"{path}: {value!r} is not a {hint.__name__}")
