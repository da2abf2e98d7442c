"""A tag as SVG, sized in millimetres: the QR one path of module runs, the text as text (set in the
viewer's CJK sans-serif, which the layout's measurements were made with)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from tags.layout import QUIET_ZONE, TagLayout

_FONT_FAMILY = "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Zen Hei', sans-serif"


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_svg(layout: TagLayout, *, title: str) -> str:
    qr = layout.qr
    unit = qr.module
    origin_x, origin_y = qr.x + QUIET_ZONE * unit, qr.y + QUIET_ZONE * unit
    path = "".join(
        f"M{_number(origin_x + column * unit)} {_number(origin_y + row * unit)}"
        f"h{_number(length * unit)}v{_number(unit)}h{_number(-length * unit)}z"
        for row, column, length in qr.dark_runs()
    )
    texts = "".join(
        f'<text x="{_number(line.x)}" y="{_number(line.baseline)}" '
        f'font-size="{_number(line.size)}" text-anchor="{line.anchor}">{escape(line.text)}</text>'
        for line in layout.lines
    )
    width, height = _number(layout.width), _number(layout.height)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" '
        f'viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path d="{path}" fill="#000" shape-rendering="crispEdges"/>'
        f'<g font-family={quoteattr(_FONT_FAMILY)} fill="#000">{texts}</g>'
        "</svg>\n"
    )
