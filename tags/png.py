"""A tag as PNG at a print resolution, drawn with Pillow in the tag font."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from tags.fonts import TagFont
from tags.layout import QUIET_ZONE, TagLayout

MM_PER_INCH = 25.4


def render_png(layout: TagLayout, font: TagFont, *, dpi: int = 300) -> bytes:
    px = dpi / MM_PER_INCH
    image = Image.new("L", (round(layout.width * px), round(layout.height * px)), 255)
    draw = ImageDraw.Draw(image)
    qr = layout.qr
    # Whole pixels per module, so that every module has the same size and edges stay sharp.
    unit = max(1, int(qr.module * px))
    left = round(qr.x * px + (qr.side * px - unit * (len(qr.modules) + 2 * QUIET_ZONE)) / 2)
    top = round(qr.y * px + (qr.side * px - unit * (len(qr.modules) + 2 * QUIET_ZONE)) / 2)
    left, top = left + QUIET_ZONE * unit, top + QUIET_ZONE * unit
    for row, column, length in qr.dark_runs():
        x, y = left + column * unit, top + row * unit
        draw.rectangle((x, y, x + length * unit - 1, y + unit - 1), fill=0)
    for line in layout.lines:
        face = font.face(max(1, round(line.size * px)))
        anchor = "ls" if line.anchor == "start" else "ms"
        draw.text((line.x * px, line.baseline * px), line.text, font=face, fill=0, anchor=anchor)
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()
