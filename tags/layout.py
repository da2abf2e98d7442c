"""A tag laid out on a label of a given size, in millimetres: the QR (with its quiet zone) on the
left, the code beneath it, the text beside it, each line shrunk to fit and cut with an ellipsis
only below the smallest legible size. The SVG, PNG and PDF renderings all draw this layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import segno

from tags.content import TagContent
from tags.fonts import TagFont

QUIET_ZONE = 4  # modules of white around the symbol (ISO/IEC 18004 section 6.3.8)
MIN_TEXT_MM = 1.8  # about 5 pt: the smallest text on a tag
_LINE_GAP = 0.3  # of the em size, between lines


@dataclass(frozen=True, slots=True)
class Qr:
    x: float
    y: float
    side: float  # the symbol and its quiet zone
    modules: tuple[tuple[bool, ...], ...]

    @property
    def module(self) -> float:
        return self.side / (len(self.modules) + 2 * QUIET_ZONE)

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """(row, first column, length) of each horizontal run of dark modules, quiet zone out."""
        runs = []
        for row, cells in enumerate(self.modules):
            column = 0
            while column < len(cells):
                if cells[column]:
                    end = column
                    while end < len(cells) and cells[end]:
                        end += 1
                    runs.append((row, column, end - column))
                    column = end
                else:
                    column += 1
        return runs


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    x: float
    baseline: float
    size: float  # em size
    anchor: Literal["start", "middle"]


@dataclass(frozen=True, slots=True)
class TagLayout:
    width: float
    height: float
    qr: Qr
    lines: tuple[Line, ...]


def qr_modules(url: str) -> tuple[tuple[bool, ...], ...]:
    # Level Q: a quarter of the symbol may be scratched or weathered and still read.
    symbol = segno.make(url, error="q", micro=False, boost_error=False)
    return tuple(tuple(bool(cell) for cell in row) for row in symbol.matrix)


def _fit(font: TagFont, text: str, size: float, width: float) -> tuple[str, float]:
    """The text and the em size to set it at so that it is at most `width` wide."""
    measured = font.width(text, size)
    if measured <= width:
        return text, size
    size = max(MIN_TEXT_MM, size * width / measured * 0.999)  # 0.999: clear of rounding
    while text and font.width(text, size) > width:
        text = text[:-2] + "…" if len(text) > 1 else ""
    return text, size


def lay_out(content: TagContent, width: float, height: float, font: TagFont) -> TagLayout:
    pad = max(2.0, min(width, height) * 0.05)
    code_size = min(4.2, max(2.2, height * 0.07))
    side = height - 2 * pad - code_size * (1 + _LINE_GAP)
    qr = Qr(pad, pad, side, qr_modules(content.url))
    code, code_size = _fit(font, content.code, code_size, side - 2 * qr.module)
    lines = [Line(code, pad + side / 2, pad + side + code_size, code_size, "middle")]

    left = pad + side + pad * 0.6
    text_width = width - left - pad
    hotline = content.hotline or "—"
    # (text, share of the label's height as em size); the shares sum with gaps to the column
    wanted = [
        (content.name_zh, 0.13),
        (content.name_en, 0.065),
        (content.site_name, 0.06),
        ("安全使用期至 Safe to use until", 0.05),
        (content.service_life_end.isoformat(), 0.085),
        ("报修电话 Hotline", 0.05),
        (hotline, 0.085),
        ("扫码报修 Scan to report", 0.055),
    ]
    total = sum(share for _, share in wanted) * (1 + _LINE_GAP)
    scale = min(1.0, (height - 2 * pad) / (total * height))
    baseline = pad
    for text, share in wanted:
        size = share * height * scale
        baseline += size
        fitted, fitted_size = _fit(font, text, size, text_width)
        lines.append(Line(fitted, left, baseline, fitted_size, "start"))
        baseline += size * _LINE_GAP
    return TagLayout(width, height, qr, tuple(lines))
