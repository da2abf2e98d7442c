"""Site and equipment codes (一站一码, 一物一码) as docs/protocol.md defines them.

An equipment code ends in an ISO 7064 MOD 11-2 check character over its 13 digits, the scheme of
the Chinese resident ID number (GB 11643).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

# re.ASCII: \d would also take other scripts' digits (full-width, Arabic-Indic, ...).
_SITE_RE = re.compile(r"(\d{6})-(\d{4})", re.ASCII)
_EQUIPMENT_RE = re.compile(r"(\d{6})-(\d{4})-(\d{3})-([0-9X])", re.ASCII)
SITE_CODE_LENGTH = 11  # AAAAAA-SSSS, the start of every equipment code at the site


class CodeError(ValueError):
    """A site or equipment code that is malformed or fails its check character."""

    def __init__(self, code: str, problem: str) -> None:
        super().__init__(f"{problem}: {code!r}")
        self.code = code
        self.problem = problem


def mod11_2_check_character(digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for a string of digits."""
    if not digits.isdigit() or not digits.isascii():
        raise ValueError(f"check character needs ASCII digits only, got {digits!r}")
    total = sum(int(d) * w for d, w in zip(digits, _weights(len(digits)), strict=True))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


@lru_cache(maxsize=32)
def _weights(n: int) -> tuple[int, ...]:
    """Position i from the left carries weight 2^(n-i) mod 11, so the last digit weighs 2."""
    return tuple(pow(2, n - i, 11) for i in range(n))


@dataclass(frozen=True, slots=True, order=True)
class SiteCode:
    division: str
    serial: str

    def __str__(self) -> str:
        return f"{self.division}-{self.serial}"


@dataclass(frozen=True, slots=True, order=True)
class EquipmentCode:
    division: str
    serial: str
    item: str
    check: str

    @property
    def site(self) -> SiteCode:
        return SiteCode(self.division, self.serial)

    def __str__(self) -> str:
        return f"{self.division}-{self.serial}-{self.item}-{self.check}"


def site_of(equipment_code: str) -> str:
    """The site code of an equipment code (its first 11 characters, `AAAAAA-SSSS`); the code is
    taken as already checked, so this is as cheap as a slice for ingest's hot path."""
    return equipment_code[:SITE_CODE_LENGTH]


def district_of(code: str) -> str:
    """The administrative division (the district, 6 digits) of a site or equipment code."""
    return code[:6]


def is_site_code(text: str) -> bool:
    return _SITE_RE.fullmatch(text) is not None


def parse_site_code(text: str) -> SiteCode:
    match = _SITE_RE.fullmatch(text)
    if match is None:
        raise CodeError(
            text, "site code must be 6-digit division, '-', 4-digit serial (AAAAAA-SSSS)"
        )
    return SiteCode(match[1], match[2])


def parse_equipment_code(text: str) -> EquipmentCode:
    """Parse and verify an equipment code; raises CodeError naming the bad part."""
    match = _EQUIPMENT_RE.fullmatch(text)
    if match is None:
        raise CodeError(
            text,
            "equipment code must be AAAAAA-SSSS-III-C (division, site serial, item, check)",
        )
    division, serial, item, check = match.groups()
    expected = mod11_2_check_character(division + serial + item)
    if check != expected:
        raise CodeError(text, f"wrong check character {check!r}, expected {expected!r}")
    return EquipmentCode(division, serial, item, check)


def make_equipment_code(site: SiteCode | str, item: int) -> EquipmentCode:
    """The equipment code for item number `item` (1-999) at `site`, with its check character."""
    site_code = parse_site_code(site) if isinstance(site, str) else site
    if not 0 <= item <= 999:
        raise ValueError(f"item number must be 0-999, got {item}")
    item_digits = f"{item:03d}"
    check = mod11_2_check_character(site_code.division + site_code.serial + item_digits)
    return EquipmentCode(site_code.division, site_code.serial, item_digits, check)


def make_site_code(division: str, serial: int) -> SiteCode:
    if not (len(division) == 6 and division.isdigit() and division.isascii()):
        raise ValueError(f"administrative division must be 6 digits, got {division!r}")
    if not 0 <= serial <= 9999:
        raise ValueError(f"site serial must be 0-9999, got {serial}")
    return SiteCode(division, f"{serial:04d}")
