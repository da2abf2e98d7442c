"""The font tags are set in: one face with Chinese and Latin glyphs, found on the machine (Debian's
fonts-noto-cjk or fonts-wqy-zenhei) or named by FITMON_TAG_FONT, and measured with FreeType."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

# Simplified Chinese faces first: the same characters differ in shape between CJK locales.
_PREFERRED_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei")
_CANDIDATE_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/source-han-sans/SourceHanSans-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
)
_MEASURE_PX = 200  # measuring size: widths scale linearly with the font size
_PROBE = "安全使用期"  # a face that cannot set these cannot set a tag
_NO_GLYPH = "\U0010fffd"  # a private-use code point: no face has a glyph for it


class TagFontError(RuntimeError):
    """No font that can set Chinese text was found, or the one named cannot."""


@dataclass(frozen=True, slots=True)
class TagFont:
    path: Path
    index: int  # the face within a font collection (.ttc)
    family: str

    def face(self, size_px: int) -> ImageFont.FreeTypeFont:
        return _face(str(self.path), self.index, size_px)

    def width(self, text: str, size: float) -> float:
        """The advance width of `text` set at em size `size`, in the same unit as `size`."""
        return self.face(_MEASURE_PX).getlength(text) * size / _MEASURE_PX


@lru_cache(maxsize=64)
def _face(path: str, index: int, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px, index=index)


def _faces(path: Path) -> list[tuple[int, str]]:
    found = []
    for index in range(32):
        try:
            family, _style = ImageFont.truetype(str(path), 12, index=index).getname()
        except OSError:
            if index == 0:
                raise  # not a font at all
            break
        found.append((index, family or ""))
    return found


def _sets_chinese(path: Path, index: int) -> bool:
    # A face without a glyph draws .notdef for it, as for a code point no font has.
    face = ImageFont.truetype(str(path), 40, index=index)
    missing = bytes(face.getmask(_NO_GLYPH))
    return all(bytes(face.getmask(ch)) != missing for ch in _PROBE)


def _pick(path: Path) -> TagFont | None:
    faces = _faces(path)
    ranked = sorted(
        faces,
        key=lambda f: _PREFERRED_FAMILIES.index(f[1]) if f[1] in _PREFERRED_FAMILIES else 99,
    )
    for index, family in ranked:
        if _sets_chinese(path, index):
            return TagFont(path, index, family)
    return None


@lru_cache(maxsize=8)
def find_tag_font(configured: Path | None = None) -> TagFont:
    """The configured font file (FITMON_TAG_FONT), else the first known one on this machine."""
    if configured is not None:
        if not configured.is_file():
            raise TagFontError(f"the tag font {configured} does not exist")
        try:
            picked = _pick(configured)
        except OSError as exc:
            raise TagFontError(f"the tag font {configured} cannot be read: {exc}") from None
        if picked is None:
            raise TagFontError(f"the tag font {configured} has no Chinese glyphs")
        return picked
    for candidate in map(Path, _CANDIDATE_FILES):
        if candidate.is_file() and (picked := _pick(candidate)) is not None:
            return picked
    raise TagFontError(
        "no font that sets Chinese was found: install Debian's fonts-noto-cjk, "
        "or name a .ttf/.otf/.ttc file in FITMON_TAG_FONT"
    )
