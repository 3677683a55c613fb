"""Find and load the CJK bitmap font the screens use.

Both choices are real bitmap designs, so they stay crisp in 1-bit mode at their native size:
GNU Unifont at 16 px (4 rows, 16 half-width columns) and WenQuanYi Zen Hei Sharp at 12 px (5 rows,
about 19 columns; its decimal point is a single pixel, which is why Unifont is the default).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

from gateway.panel import errors
from gateway.panel.config import FontName


@dataclass(frozen=True)
class _FontSpec:
    candidates: tuple[str, ...]
    index: int
    size: int
    row_height: int
    # Added to a row's top when drawing: Unifont's glyphs fill a 16 px cell drawn at its top;
    # Zen Hei Sharp's 12 px CJK glyphs start 2 px below the pen position.
    y_offset: int
    package: str


_SPECS: dict[str, _FontSpec] = {
    "unifont": _FontSpec(
        candidates=(
            "/usr/share/fonts/opentype/unifont/unifont.otf",
            "/usr/share/fonts/truetype/unifont/unifont.ttf",
        ),
        index=0,
        size=16,
        row_height=16,
        y_offset=0,
        package="fonts-unifont",
    ),
    "wqy-zenhei-sharp": _FontSpec(
        candidates=("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",),
        index=2,  # face 2 of the collection is "Zen Hei Sharp", the one with 12 px bitmaps
        size=12,
        row_height=12,
        y_offset=-2,
        package="fonts-wqy-zenhei",
    ),
}


@dataclass(frozen=True, eq=False)
class PanelFont:
    name: str
    path: str
    row_height: int
    y_offset: int
    face: ImageFont.FreeTypeFont

    def width(self, text: str) -> int:
        return int(self.face.getlength(text))


class FontNotFoundError(errors.PanelError):
    pass


@functools.cache
def load_font(name: FontName = "unifont") -> PanelFont:
    """Load a font by config name; raises FontNotFoundError naming the Debian package."""
    spec = _SPECS[name]
    path = next((p for p in spec.candidates if Path(p).is_file()), None)
    if path is None:
        err = errors.display_font_missing(spec.package, " / ".join(spec.candidates))
        raise FontNotFoundError(err.code, err.message.zh, err.message.en)
    face = ImageFont.truetype(path, spec.size, index=spec.index)
    return PanelFont(
        name=name, path=path, row_height=spec.row_height, y_offset=spec.y_offset, face=face
    )
