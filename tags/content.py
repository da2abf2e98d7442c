"""What a tag says (DOMAIN.md, GB/T 34289): the scan-to-report URL as a QR, the code beneath it,
the item's name, the end of its safe service life (GB 19272) and the maintenance hotline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from devices.catalog import EQUIPMENT_TYPES


@dataclass(frozen=True, slots=True)
class TagContent:
    code: str
    url: str
    name_zh: str
    name_en: str
    site_name: str
    service_life_end: date
    hotline: str | None


def public_page_url(base_url: str, code: str) -> str:
    """The public page a scan opens: `<base>/q/<equipment code>` (PROTOCOL.md, Identity)."""
    return f"{base_url.rstrip('/')}/q/{code}"


def service_life_end(installed_on: date, years: int) -> date:
    """The day the safe service life ends; an item installed on 29 February ends on the 28th."""
    try:
        return installed_on.replace(year=installed_on.year + years)
    except ValueError:
        return installed_on.replace(year=installed_on.year + years, day=28)


def tag_content(
    *,
    base_url: str,
    code: str,
    kind: str,
    installed_on: date,
    service_life_years: int,
    site_name: str,
    hotline: str | None,
) -> TagContent:
    known = EQUIPMENT_TYPES.get(kind)
    return TagContent(
        code=code,
        url=public_page_url(base_url, code),
        name_zh=known.name_zh if known else kind,
        name_en=known.name_en if known else kind,
        site_name=site_name,
        service_life_end=service_life_end(installed_on, service_life_years),
        hotline=hotline,
    )
