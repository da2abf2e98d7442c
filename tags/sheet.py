"""Sheets of tags on A4 label stock, as PDF: one tag per label, left to right and top to bottom,
the QR drawn as vector runs and the text in the tag font (embedded, subset)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fpdf import FPDF

from tags.content import TagContent
from tags.fonts import TagFont
from tags.layout import QUIET_ZONE, TagLayout, lay_out

PT_PER_MM = 72 / 25.4


@dataclass(frozen=True, slots=True)
class LabelStock:
    """Die-cut labels on an A4 sheet (210 x 297 mm), measured in millimetres."""

    name: str
    columns: int
    rows: int
    label_width: float
    label_height: float
    left: float  # the first label's top-left corner
    top: float
    column_pitch: float  # from one label's left edge to the next one's
    row_pitch: float

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows

    def origin(self, slot: int) -> tuple[float, float]:
        row, column = divmod(slot, self.columns)
        return self.left + column * self.column_pitch, self.top + row * self.row_pitch


# The common A4 layouts (Avery's codes; the same die-cuts are sold under other makers' names).
LABEL_STOCKS: dict[str, LabelStock] = {
    stock.name: stock
    for stock in (
        LabelStock("L7173", 2, 5, 99.1, 57.0, 4.65, 6.0, 101.6, 57.0),
        LabelStock("L7163", 2, 7, 99.1, 38.1, 4.65, 15.15, 101.6, 38.1),
        LabelStock("L7160", 3, 7, 63.5, 38.1, 7.21, 15.15, 66.04, 38.1),
    )
}
DEFAULT_STOCK = LABEL_STOCKS["L7173"]


def _draw(pdf: FPDF, layout: TagLayout, x0: float, y0: float) -> None:
    qr = layout.qr
    unit = qr.module
    left, top = x0 + qr.x + QUIET_ZONE * unit, y0 + qr.y + QUIET_ZONE * unit
    for row, column, length in qr.dark_runs():
        pdf.rect(left + column * unit, top + row * unit, length * unit, unit, style="F")
    for line in layout.lines:
        pdf.set_font_size(line.size * PT_PER_MM)
        x = x0 + line.x
        if line.anchor == "middle":
            x -= pdf.get_string_width(line.text) / 2
        pdf.text(x, y0 + line.baseline, line.text)


def render_sheet(
    contents: Sequence[TagContent],
    font: TagFont,
    *,
    stock: LabelStock = DEFAULT_STOCK,
    skip: int = 0,
    title: str = "fitmon tags",
) -> bytes:
    """`skip`: labels already used on the first sheet, left empty."""
    if not 0 <= skip < stock.per_sheet:
        raise ValueError(f"skip must be 0 to {stock.per_sheet - 1} on {stock.name}, got {skip}")
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margin(0)
    pdf.set_title(title)
    pdf.set_creator("fitmon")
    pdf.add_font("tag", fname=str(font.path), collection_font_number=font.index)
    pdf.set_font("tag")
    pdf.set_fill_color(0)
    for position, content in enumerate(contents, start=skip):
        slot = position % stock.per_sheet
        if slot == 0 or position == skip:
            pdf.add_page()
        x0, y0 = stock.origin(slot)
        _draw(pdf, lay_out(content, stock.label_width, stock.label_height, font), x0, y0)
    if not contents:
        pdf.add_page()
    return bytes(pdf.output())
