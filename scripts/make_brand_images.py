"""Draw the Sunvec Connect brand images into custom_components/sunvec/brand/.

Original artwork: a sun rising behind a solar panel, with an arrow for the power it
sends. Each image is drawn large, trimmed to its artwork and scaled down, so edges
are smooth. The sizes follow Home Assistant's brands rules: icons 256x256 and
512x512; logos landscape with the short side 256 (512 for @2x); transparent PNG.
The ``dark_`` variants are for dark themes.

Run from the repository root: ``.venv/bin/python scripts/make_brand_images.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND_DIR = (
    Path(__file__).resolve().parent.parent / "custom_components" / "sunvec" / "brand"
)

CANVAS = 2048
"""Side in pixels of the square the mark is drawn in, before scaling down."""

ICON_SIZE = 256
LOGO_HEIGHT = 256

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Palette:
    """The colours of one variant."""

    sun: str
    panel: str
    arrow: str
    name: str
    subtitle: str


LIGHT = Palette(
    sun="#F59E0B",
    panel="#1D4F91",
    arrow="#16A34A",
    name="#1F2937",
    subtitle="#4B5563",
)
DARK = Palette(
    sun="#FBBF24",
    panel="#60A5FA",
    arrow="#4ADE80",
    name="#F3F4F6",
    subtitle="#D1D5DB",
)

TRANSPARENT = (0, 0, 0, 0)

# The panel, seen from the front and a little above: a trapezoid (unit coordinates).
PANEL_TOP_LEFT: Point = (0.22, 0.54)
PANEL_TOP_RIGHT: Point = (0.84, 0.54)
PANEL_BOTTOM_RIGHT: Point = (0.98, 0.94)
PANEL_BOTTOM_LEFT: Point = (0.08, 0.94)
PANEL_COLUMNS = 4
PANEL_ROWS = 3
PANEL_GAP = 0.022
"""Width of the gaps between the panel's cells, in unit coordinates."""

SUN_CENTRE: Point = (0.37, 0.38)
SUN_RADIUS = 0.18
SUN_RAYS = 12

ARROW_TAIL: Point = (0.75, 0.64)
"""Inside the panel, which hides the end: the arrow rises out of the panel."""
ARROW_TIP: Point = (0.93, 0.07)
ARROW_WIDTH = 0.075
ARROW_HEAD_LENGTH = 0.19
ARROW_HEAD_WIDTH = 0.21


def _px(point: Point) -> tuple[float, float]:
    return point[0] * CANVAS, point[1] * CANVAS


def _panel_point(u: float, v: float) -> Point:
    """Return the point at (u, v) of the panel, both from 0 to 1 (bilinear)."""
    top = _lerp(PANEL_TOP_LEFT, PANEL_TOP_RIGHT, u)
    bottom = _lerp(PANEL_BOTTOM_LEFT, PANEL_BOTTOM_RIGHT, u)
    return _lerp(top, bottom, v)


def _lerp(start: Point, end: Point, t: float) -> Point:
    return start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t


def _panel_outline(margin: float) -> list[tuple[float, float]]:
    """Return the panel's corners, moved ``margin`` away from its centre."""
    corners = (PANEL_TOP_LEFT, PANEL_TOP_RIGHT, PANEL_BOTTOM_RIGHT, PANEL_BOTTOM_LEFT)
    centre_x = sum(x for x, _ in corners) / 4
    centre_y = sum(y for _, y in corners) / 4
    outline = []
    for x, y in corners:
        dx, dy = x - centre_x, y - centre_y
        length = math.hypot(dx, dy)
        outline.append(_px((x + dx / length * margin, y + dy / length * margin)))
    return outline


def _draw_sun(draw: ImageDraw.ImageDraw, palette: Palette) -> None:
    cx, cy = _px(SUN_CENTRE)
    radius = SUN_RADIUS * CANVAS
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), palette.sun)
    ray_width = round(0.05 * CANVAS)
    for ray in range(SUN_RAYS):
        angle = 2 * math.pi * ray / SUN_RAYS
        if math.sin(angle) > 0.01:
            continue  # a ray pointing down would show as a stub beside the panel
        inner, outer = radius * 1.3, radius * 1.7
        start = (cx + inner * math.cos(angle), cy + inner * math.sin(angle))
        end = (cx + outer * math.cos(angle), cy + outer * math.sin(angle))
        draw.line((start, end), palette.sun, width=ray_width)
        for x, y in (start, end):  # round caps
            cap = ray_width / 2
            draw.ellipse((x - cap, y - cap, x + cap, y + cap), palette.sun)


def _draw_panel(draw: ImageDraw.ImageDraw, palette: Palette) -> None:
    # Clear a margin around the panel so that it stands apart from the sun behind it.
    draw.polygon(_panel_outline(0.045), TRANSPARENT)
    half_gap_u = PANEL_GAP / 2 / (PANEL_TOP_RIGHT[0] - PANEL_TOP_LEFT[0])
    half_gap_v = PANEL_GAP / 2 / (PANEL_BOTTOM_LEFT[1] - PANEL_TOP_LEFT[1])
    for column in range(PANEL_COLUMNS):
        for row in range(PANEL_ROWS):
            u0 = column / PANEL_COLUMNS + (half_gap_u if column else 0)
            u1 = (column + 1) / PANEL_COLUMNS - (
                half_gap_u if column < PANEL_COLUMNS - 1 else 0
            )
            v0 = row / PANEL_ROWS + (half_gap_v if row else 0)
            v1 = (row + 1) / PANEL_ROWS - (half_gap_v if row < PANEL_ROWS - 1 else 0)
            cell = [
                _px(_panel_point(u, v))
                for u, v in ((u0, v0), (u1, v0), (u1, v1), (u0, v1))
            ]
            draw.polygon(cell, palette.panel)


def _draw_arrow(draw: ImageDraw.ImageDraw, palette: Palette) -> None:
    """Draw the arrow rising out of the panel: the power the plant sends on."""
    # Clear a margin first, so that the arrow stands apart from what is behind it.
    draw.polygon(_arrow_outline(0.03), TRANSPARENT)
    draw.polygon(_arrow_outline(0), palette.arrow)


def _arrow_outline(margin: float) -> list[tuple[float, float]]:
    """Return the arrow's corners, pushed outwards by ``margin`` (unit coordinates)."""
    tail, tip = ARROW_TAIL, ARROW_TIP
    length = math.dist(tail, tip)
    along = ((tip[0] - tail[0]) / length, (tip[1] - tail[1]) / length)
    across = (-along[1], along[0])

    def at(back: float, side: float) -> tuple[float, float]:
        """Return the point ``back`` from the tip along the arrow, ``side`` across."""
        return _px(
            (
                tip[0] - along[0] * back + across[0] * side,
                tip[1] - along[1] * back + across[1] * side,
            )
        )

    shaft, head = ARROW_WIDTH / 2 + margin, ARROW_HEAD_WIDTH / 2 + margin
    neck = ARROW_HEAD_LENGTH + margin
    return [
        at(-2 * margin, 0),  # a sharp tip needs a wider margin along than across
        at(neck, head),
        at(neck, shaft),
        at(length + margin, shaft),
        at(length + margin, -shaft),
        at(neck, -shaft),
        at(neck, -head),
    ]


def draw_mark(palette: Palette) -> Image.Image:
    """Return the mark (sun, panel, arrow), trimmed to its artwork."""
    image = Image.new("RGBA", (CANVAS, CANVAS), TRANSPARENT)
    draw = ImageDraw.Draw(image)
    _draw_sun(draw, palette)
    _draw_arrow(draw, palette)
    _draw_panel(draw, palette)
    return trim(image)


def draw_wordmark(palette: Palette, height: int) -> Image.Image:
    """Return "Sunvec" over a spaced-out "CONNECT", ``height`` pixels tall at most."""
    name_font = _font(round(height * 0.62))
    subtitle_font = _font(round(height * 0.2))
    name = _text(
        "Sunvec", name_font, palette.name, tracking=0, stroke=round(height * 0.012)
    )
    subtitle = _text(
        "CONNECT",
        subtitle_font,
        palette.subtitle,
        tracking=round(height * 0.045),
        stroke=round(height * 0.004),
    )
    gap = round(height * 0.08)
    width = max(name.width, subtitle.width)
    image = Image.new("RGBA", (width, name.height + gap + subtitle.height))
    image.alpha_composite(name, (0, 0))
    image.alpha_composite(subtitle, (round(height * 0.015), name.height + gap))
    return trim(image)


def _font(size: int) -> ImageFont.FreeTypeFont:
    # Pillow's own font (Aileron, public domain), so every machine draws the same.
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise SystemExit("Pillow was built without FreeType; cannot draw the logo")
    return font


def _text(
    text: str,
    font: ImageFont.FreeTypeFont,
    colour: str,
    *,
    tracking: int,
    stroke: int,
) -> Image.Image:
    """Return ``text`` on a transparent image, ``tracking`` pixels between letters.

    Without tracking the text is drawn whole, so that the font's kerning applies.
    """
    pieces = list(text) if tracking else [text]
    advances = [font.getlength(piece) for piece in pieces]
    margin = 2 * stroke + 4
    width = round(sum(advances) + tracking * (len(pieces) - 1)) + 2 * margin
    ascent, descent = font.getmetrics()
    image = Image.new("RGBA", (width, ascent + descent + 2 * margin))
    draw = ImageDraw.Draw(image)
    x: float = margin
    for piece, advance in zip(pieces, advances, strict=True):
        draw.text(
            (x, margin),
            piece,
            font=font,
            fill=colour,
            stroke_width=stroke,
            stroke_fill=colour,
        )
        x += advance + tracking
    return trim(image)


def draw_logo(palette: Palette) -> Image.Image:
    """Return the mark beside the wordmark, trimmed."""
    mark = draw_mark(palette)
    mark = mark.resize(
        (round(mark.width * CANVAS / mark.height), CANVAS), Image.Resampling.LANCZOS
    )
    wordmark = draw_wordmark(palette, round(CANVAS * 0.72))
    gap = round(CANVAS * 0.12)
    image = Image.new("RGBA", (mark.width + gap + wordmark.width, CANVAS))
    image.alpha_composite(mark, (0, 0))
    image.alpha_composite(
        wordmark, (mark.width + gap, round((CANVAS - wordmark.height) / 2))
    )
    return trim(image)


def trim(image: Image.Image) -> Image.Image:
    """Crop ``image`` to the pixels that are not fully transparent."""
    box = image.getchannel("A").getbbox()
    if box is None:
        raise ValueError("The image is empty")
    return image.crop(box)


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Scale ``image`` to fill a transparent ``size`` square, centred."""
    scale = size / max(image.size)
    scaled = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        Image.Resampling.LANCZOS,
    )
    square = Image.new("RGBA", (size, size))
    square.alpha_composite(
        scaled, ((size - scaled.width) // 2, (size - scaled.height) // 2)
    )
    return square


def fit_height(image: Image.Image, height: int) -> Image.Image:
    """Scale ``image`` to ``height`` pixels, keeping its aspect ratio."""
    width = round(image.width * height / image.height)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def save(image: Image.Image, name: str) -> None:
    """Write ``image`` to the brand folder as an optimised PNG."""
    path = BRAND_DIR / name
    # Fully transparent pixels keep the colour resampling left there; blank them,
    # which changes nothing on screen and lets PNG compress them away.
    visible = image.getchannel("A").point(lambda alpha: 255 if alpha else 0)
    image = Image.composite(image, Image.new("RGBA", image.size), visible)
    image.save(path, optimize=True)
    print(f"{path.relative_to(BRAND_DIR.parents[2])}: {image.width}x{image.height}")


def main() -> None:
    """Draw every brand image, light and dark, in both resolutions."""
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        mark = draw_mark(palette)
        logo = draw_logo(palette)
        save(fit_square(mark, ICON_SIZE), f"{prefix}icon.png")
        save(fit_square(mark, 2 * ICON_SIZE), f"{prefix}icon@2x.png")
        save(fit_height(logo, LOGO_HEIGHT), f"{prefix}logo.png")
        save(fit_height(logo, 2 * LOGO_HEIGHT), f"{prefix}logo@2x.png")


if __name__ == "__main__":
    main()
