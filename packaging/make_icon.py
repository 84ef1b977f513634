"""Draw the OASIS Studio app icon with Pillow and write it to ``resources/icons``.

The icon is a stylised landscape in a rounded square, split along the diagonal: the upper-left half shows the scene
as flat semantic classes (what you paint), the lower-right half the same shapes shaded (what the model makes).

    python packaging/make_icon.py          # writes oasis-studio.png (256), .ico (16-256) and .icns

The files are committed; run this only to change the design.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "resources" / "icons"
NAME = "oasis-studio"
S = 1024  # drawn at 4x, then reduced with a good filter

# flat class colours (the painted half) and the two ends of each shaded gradient (the generated half)
SKY = ((70, 130, 180), (38, 64, 139), (246, 178, 107))
SUN = ((255, 214, 90), (255, 236, 160), (255, 190, 70))
FAR = ((130, 110, 170), (95, 90, 150), (150, 130, 180))
SNOW = ((240, 240, 250), (255, 255, 255), (200, 205, 225))
HILL = ((60, 160, 80), (40, 120, 60), (120, 180, 80))
WATER = ((40, 110, 200), (30, 80, 160), (90, 160, 220))


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], y0: float, y1: float) -> Image.Image:
    """A full-size vertical gradient from ``top`` at y0 to ``bottom`` at y1 (clamped outside)."""
    col = Image.new("RGB", (1, S))
    px = col.load()
    for y in range(S):
        t = min(1.0, max(0.0, (y - y0) / max(1.0, y1 - y0)))
        px[0, y] = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
    return col.resize((S, S))


def _mask(draw_fn) -> Image.Image:
    m = Image.new("L", (S, S), 0)
    draw_fn(ImageDraw.Draw(m))
    return m


def _shapes() -> list[tuple[tuple, Image.Image, float, float]]:
    """(colours, mask, gradient y0, gradient y1) for each layer, back to front."""
    sky = _mask(lambda d: d.rectangle((0, 0, S, S), fill=255))
    sun = _mask(lambda d: d.ellipse((640, 170, 840, 370), fill=255))
    far_pts = [(0, 560), (170, 330), (300, 450), (470, 230), (640, 470), (760, 380), (S, 540), (S, S), (0, S)]
    far = _mask(lambda d: d.polygon(far_pts, fill=255))
    snow_pts = [(470, 230), (545, 330), (505, 315), (470, 350), (430, 310), (395, 335)]
    snow = _mask(lambda d: d.polygon(snow_pts, fill=255))
    hill = Image.new("L", (S, S), 0)
    d = ImageDraw.Draw(hill)
    pts = [(x, 640 - 70 * math.sin(x / S * math.pi * 1.6 + 0.4)) for x in range(0, S + 1, 8)]
    d.polygon([*pts, (S, S), (0, S)], fill=255)
    water = _mask(lambda d: d.polygon([(0, 790), (S, 740), (S, S), (0, S)], fill=255))
    return [
        (SKY, sky, 0, 620),
        (SUN, sun, 170, 370),
        (FAR, far, 230, 700),
        (SNOW, snow, 230, 350),
        (HILL, hill, 560, 820),
        (WATER, water, 740, S),
    ]


def draw_icon(size: int = 256) -> Image.Image:
    flat = Image.new("RGB", (S, S))
    shaded = Image.new("RGB", (S, S))
    for (colour, top, bottom), mask, y0, y1 in _shapes():
        flat.paste(colour, (0, 0), mask)
        shaded.paste(_gradient(top, bottom, y0, y1), (0, 0), mask)
    # a soft glow around the sun and ripples on the water, in the shaded half only
    glow = _mask(lambda d: d.ellipse((590, 120, 890, 420), fill=110)).filter(ImageFilter.GaussianBlur(40))
    shaded.paste((255, 225, 150), (0, 0), glow)
    ripples = Image.new("L", (S, S), 0)
    rd = ImageDraw.Draw(ripples)
    for i, y in enumerate(range(820, S, 55)):
        x0 = 260 + (i % 2) * 120
        rd.line((x0, y, x0 + 300 - i * 20, y - 8), fill=150, width=14)
    shaded.paste((200, 225, 250), (0, 0), ImageChops.multiply(ripples, _shapes()[-1][1]))

    # diagonal split: flat classes above the anti-diagonal, the shaded image below it
    split = _mask(lambda d: d.polygon([(S, 0), (S, S), (0, S)], fill=255))
    art = flat.copy()
    art.paste(shaded, (0, 0), split)
    ImageDraw.Draw(art).line((S + 20, -20, -20, S + 20), fill=(255, 255, 255), width=18)

    # rounded square with a thin darker rim
    margin, radius = 40, 210
    shape = _mask(lambda d: d.rounded_rectangle((margin, margin, S - margin, S - margin), radius, fill=255))
    rim = _mask(lambda d: d.rounded_rectangle((margin, margin, S - margin, S - margin), radius, outline=255, width=22))
    art.paste((20, 30, 60), (0, 0), ImageChops.multiply(rim, Image.new("L", (S, S), 150)))
    icon = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    icon.paste(art, (0, 0), shape)
    return icon.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    big = draw_icon(512)
    icon = big.resize((256, 256), Image.Resampling.LANCZOS)
    icon.save(OUT / f"{NAME}.png", optimize=True)
    icon.save(OUT / f"{NAME}.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    big.save(OUT / f"{NAME}.icns")
    for p in sorted(OUT.glob(f"{NAME}.*")):
        print(f"{p.relative_to(ROOT)}  {p.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
