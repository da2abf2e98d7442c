"""Tags as drawn: every line fits its label, a tag's QR reads back as its URL, the dates and the
font are right."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from fontTools.fontBuilder import FontBuilder  # type: ignore[import-untyped]  # fpdf2 brings it
from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped]
from PIL import Image

from tags.content import public_page_url, service_life_end, tag_content
from tags.fonts import TagFontError, find_tag_font
from tags.layout import MIN_TEXT_MM, lay_out
from tags.png import render_png
from tags.sheet import LABEL_STOCKS
from tests.tags.conftest import decoded_qr_texts

LONG_SITE = "扬州市邗江区蒋王街道荷花池公园北门东侧全民健身路径点位（二期工程）"


def content(**overrides: object) -> object:
    fields: dict[str, object] = {
        "base_url": "https://fitmon.example.cn",
        "code": "320705-0042-007-4",
        "kind": "smart_bike",
        "installed_on": date(2020, 2, 29),
        "service_life_years": 8,
        "site_name": LONG_SITE,
        "hotline": "0514-87654321",
    }
    fields.update(overrides)
    return tag_content(**fields)  # type: ignore[arg-type]


def latin_only_font(path: Path) -> Path:
    """A TrueType font with one glyph, "A" (a box): a face that cannot set Chinese."""
    pen = TTGlyphPen(None)
    pen.moveTo((100, 0))
    for corner in ((100, 700), (500, 700), (500, 0)):
        pen.lineTo(corner)
    pen.closePath()
    box = pen.glyph()
    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef", "A"])
    builder.setupCharacterMap({ord("A"): "A"})
    builder.setupGlyf({".notdef": box, "A": box})
    builder.setupHorizontalMetrics({".notdef": (600, 100), "A": (600, 100)})
    builder.setupHorizontalHeader(ascent=800, descent=-200)
    builder.setupNameTable({"familyName": "Latin Only", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    builder.save(str(path))
    return path


def test_service_life_ends_on_the_anniversary_or_the_28th_after_a_leap_day() -> None:
    assert service_life_end(date(2020, 2, 29), 8) == date(2028, 2, 29)
    assert service_life_end(date(2020, 2, 29), 5) == date(2025, 2, 28)
    assert service_life_end(date(2019, 7, 1), 8) == date(2027, 7, 1)


def test_the_public_url_ends_in_q_and_the_code_whatever_the_base_ends_in() -> None:
    expected = "https://x.cn/fitmon/q/320705-0042-007-4"
    assert public_page_url("https://x.cn/fitmon/", "320705-0042-007-4") == expected
    assert public_page_url("https://x.cn/fitmon", "320705-0042-007-4") == expected


@pytest.mark.parametrize("stock", sorted(LABEL_STOCKS))
def test_every_line_fits_the_label_on_every_stock(stock: str) -> None:
    font = find_tag_font()
    label = LABEL_STOCKS[stock]
    tag = content()
    layout = lay_out(tag, label.label_width, label.label_height, font)  # type: ignore[arg-type]
    texts = [line.text for line in layout.lines]
    assert texts[0] == "320705-0042-007-4"
    assert "智能发电单车" in texts
    assert "2028-02-29" in texts
    assert "0514-87654321" in texts
    site = next(text for text in texts if text.startswith("扬州市"))
    assert site == LONG_SITE or (site.endswith("…") and LONG_SITE.startswith(site[:-1]))
    for line in layout.lines:
        if line.text.endswith("…"):
            assert line.size == MIN_TEXT_MM, "cut only at the smallest size"
        width = font.width(line.text, line.size)
        left = line.x - width / 2 if line.anchor == "middle" else line.x
        assert left >= 0
        assert left + width <= label.label_width + 1e-6, line
        assert line.baseline <= label.label_height, line
    assert layout.qr.x + layout.qr.side < min(line.x for line in layout.lines[1:])


def test_a_png_tag_reads_back_as_the_items_public_url() -> None:
    font = find_tag_font()
    tag = content()
    layout = lay_out(tag, 63.5, 38.1, font)  # type: ignore[arg-type]
    image = Image.open(io.BytesIO(render_png(layout, font, dpi=200)))
    assert image.size == (round(63.5 * 200 / 25.4), round(38.1 * 200 / 25.4))
    assert decoded_qr_texts(image) == ["https://fitmon.example.cn/q/320705-0042-007-4"]


def test_a_font_without_chinese_is_refused_with_its_name(tmp_path: Path) -> None:
    latin_only = latin_only_font(tmp_path / "LatinOnly.ttf")
    with pytest.raises(TagFontError, match=r"LatinOnly\.ttf has no Chinese glyphs"):
        find_tag_font(latin_only)
    with pytest.raises(TagFontError, match="does not exist"):
        find_tag_font(tmp_path / "missing.ttf")
    (tmp_path / "broken.ttf").write_bytes(b"not a font")
    with pytest.raises(TagFontError, match="cannot be read"):
        find_tag_font(tmp_path / "broken.ttf")
