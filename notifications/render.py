"""Messages from the templates (notifications/templates, or a city's own in FITMON_TEMPLATES_DIR
that replace them file by file): one alert or notice, or a burst grouped by site, in the
recipient's language, as markdown, plain text and HTML."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
import yaml
from markdown_it import MarkdownIt
from markupsafe import Markup

from devices.catalog import EQUIPMENT_TYPES
from notifications.channels.base import SEVERITY_RANK, Message, Severity

SHIPPED = Path(__file__).parent / "templates"
LOCAL_TIME = ZoneInfo("Asia/Shanghai")  # what crews read; stored times stay UTC
_COLOURS = {"critical": "#cf1322", "major": "#d46b08", "minor": "#595959"}
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")


@dataclass(frozen=True, slots=True)
class Told:
    """One delivery as the renderer needs it: its id and what its message says."""

    delivery_id: int
    facts: Mapping[str, Any]


class Renderer:
    def __init__(self, *, ticket_url: str, templates_dir: str | None = None) -> None:
        self.ticket_url = ticket_url
        folders = [str(SHIPPED)] if templates_dir is None else [templates_dir, str(SHIPPED)]
        self._folders = tuple(folders)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folders),
            autoescape=jinja2.select_autoescape(["html.j2"]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
        )
        self._markdown = MarkdownIt("commonmark", {"html": False})

    def names(self, language: str) -> dict[str, Any]:
        return _names(self._folders, language)

    def message(self, told: Sequence[Told], language: str) -> Message:
        """One message for `told` (several: a grouped burst). Raises jinja2.TemplateError for a
        template that cannot be rendered."""
        names = self.names(language)
        worst: Severity = max((t.facts["severity"] for t in told), key=SEVERITY_RANK.__getitem__)
        if len(told) == 1:
            facts = told[0].facts
            module = self._env.get_template(f"{language}/single.md.j2").make_module(
                self._single(facts, names, language)
            )
            ticket = facts.get("ticket_id")
            link = self.ticket_url.format(id=ticket) if ticket else None
            subjects: tuple[str, ...] = (str(facts["subject"]),)
        else:
            ordered = sorted(told, key=lambda t: (t.facts["site_code"], str(t.facts["subject"])))
            sites: dict[str, dict[str, Any]] = {}
            for t in ordered:
                entry = sites.setdefault(t.facts["site_code"], {"site": t.facts, "alerts": []})
                entry["alerts"].append(self._single(t.facts, names, language))
            module = self._env.get_template(f"{language}/group.md.j2").make_module(
                {
                    "count": len(told),
                    "severity": names["severity"][worst],
                    "sites": list(sites.values()),
                    "names": names,
                }
            )
            link = None
            subjects = tuple(str(t.facts["subject"]) for t in ordered)
        title = str(getattr(module, "title", "")).strip()
        markdown = str(module).strip()
        html_body = self._markdown.render(markdown)
        html = self._env.get_template("email.html.j2").render(
            language=language,
            title=title,
            body=Markup(html_body),  # noqa: S704 - markdown-it escapes (html: False)
            colour=_COLOURS[worst],
            link=link,
            link_label=names["link_label"],
        )
        ids = sorted(t.delivery_id for t in told)
        key = f"fitmon-d{ids[0]}" if len(ids) == 1 else f"fitmon-d{ids[0]}-{ids[-1]}x{len(ids)}"
        return Message(
            key=key,
            title=title,
            severity=worst,
            markdown=markdown,
            text=plain_text(title, markdown),
            html=html,
            link=link,
            link_label=names["link_label"],
            count=len(told),
            subjects=subjects,
        )

    def _single(
        self, facts: Mapping[str, Any], names: Mapping[str, Any], language: str
    ) -> dict[str, Any]:
        kind = EQUIPMENT_TYPES.get(facts.get("item_kind") or "")
        if kind is not None:
            item = kind.name_zh if language == "zh" else kind.name_en
        else:
            item = facts.get("item_kind") or facts["site_name"]
        last = facts.get("last_action") or None
        lat, lon = facts.get("latitude"), facts.get("longitude")
        map_link = None
        if lat is not None and lon is not None:
            label = quote(str(facts["site_name"]))
            map_link = f"https://uri.amap.com/marker?position={lon},{lat}&name={label}"
        return {
            "f": facts,
            "names": names,
            "item": item,
            "severity": names["severity"][facts["severity"]],
            "event": names["event"][facts["event"]],
            "rule": names["rule"].get(facts["rule"], facts["rule"]),
            "fault": names["fault"].get(facts["fault"], facts["fault"]) if facts["fault"] else "",
            "status": names["status"].get(facts.get("ticket_status") or "", ""),
            "started": _local(facts.get("started_at")),
            "started_short": _local(facts.get("started_at"))[-5:],
            "deadline": _local(facts.get("due_at")),
            "map_link": map_link,
            "last_action": last["action"] if last else None,
            "last_action_at": _local(last["at"]) if last else None,
        }


@cache
def _names(folders: tuple[str, ...], language: str) -> dict[str, Any]:
    for folder in folders:
        path = Path(folder) / language / "names.yaml"
        if path.is_file():
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(loaded, dict):
                raise ValueError(f"{path} is not a mapping")
            return loaded
    raise FileNotFoundError(f"no {language}/names.yaml in {', '.join(folders)}")


def _local(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


def plain_text(title: str, markdown: str) -> str:
    """The markdown subset of the templates as plain text: no emphasis, links as `text: url`."""
    body = _LINK.sub(lambda m: f"{m.group(1)}: {m.group(2)}", markdown).replace("**", "")
    return f"{title}\n\n{body}"
