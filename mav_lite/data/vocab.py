"""Shapes World's vocabulary: the attributes of the world and the words captions use for them.

Every attribute has a canonical name (the key) and the words a caption may use for it (the first
word is the canonical one). `vocabulary()` lists every word a generated caption can contain; the
CLIP-lite tokenizer (notebook 03) is built from it.

| attribute  | values |
| ---------- | ------ |
| shape      | circle, square, triangle, star, heart, diamond, hexagon, cross |
| colour     | red, orange, yellow, green, cyan, blue, purple, pink, brown, white |
| size       | small, medium, large (by area: the radius of a circle of the same area) |
| position   | a 3x3 grid: top/middle/bottom x left/center/right |
| background | black, gray, white, shaded (a vertical gradient) |
| motion     | linear (moving left/right/up/down, bouncing off walls), gravity (falling and bouncing), spin, pulse (growing and shrinking) |
"""

from __future__ import annotations

import re

# name -> (r, g, b) in 0..255. Hues spread around the wheel with different lightness, so the
# colours stay apart in grey scale as well.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "orange": (245, 140, 20),
    "yellow": (245, 215, 40),
    "green": (40, 170, 70),
    "cyan": (40, 200, 220),
    "blue": (40, 90, 230),
    "purple": (140, 60, 200),
    "pink": (245, 120, 190),
    "brown": (130, 80, 40),
    "white": (245, 245, 245),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "heart", "diamond", "hexagon", "cross")

# size word -> range of the equal-area radius, in image widths (area fraction = pi * r^2)
SIZES: dict[str, tuple[float, float]] = {
    "small": (0.085, 0.10),
    "medium": (0.12, 0.14),
    "large": (0.16, 0.19),
}

# background name -> (top colour, bottom colour); equal colours make a plain background
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "black": ((14, 14, 18), (14, 14, 18)),
    "gray": ((80, 80, 86), (80, 80, 86)),
    "white": ((236, 236, 232), (236, 236, 232)),
    "shaded": ((70, 72, 88), (8, 8, 12)),
}
# a colour that would vanish on a background is never drawn on it
INVISIBLE: frozenset[tuple[str, str]] = frozenset({("white", "white")})

ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "center", "right")
# position key -> (row, column) in the 3x3 grid
POSITIONS: dict[str, tuple[int, int]] = {
    f"{r} {c}" if (r, c) != ("middle", "center") else "center": (i, j)
    for i, r in enumerate(ROWS)
    for j, c in enumerate(COLUMNS)
}

MOTIONS: tuple[str, ...] = ("linear", "gravity", "spin", "pulse")
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")

# Compositions that training data never contains (evaluated in notebook 13).
HELD_OUT_PAIRS: tuple[tuple[str, str], ...] = (("red", "star"), ("blue", "heart"), ("green", "triangle"))
HELD_OUT_MOTIONS: tuple[tuple[str, str], ...] = (("spin", "hexagon"),)

# ---- words -----------------------------------------------------------------------------------

COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "orange": ("orange", "amber", "tangerine"),
    "yellow": ("yellow", "golden", "lemon"),
    "green": ("green", "emerald", "jade"),
    "cyan": ("cyan", "turquoise", "aqua"),
    "blue": ("blue", "azure", "cobalt"),
    "purple": ("purple", "violet"),
    "pink": ("pink", "rose"),
    "brown": ("brown", "chocolate"),
    "white": ("white", "ivory", "snowy"),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
    "star": ("star",),
    "heart": ("heart",),
    "diamond": ("diamond", "rhombus", "lozenge"),
    "hexagon": ("hexagon", "hex"),
    "cross": ("cross", "plus"),
}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "tiny", "little"),
    "medium": ("medium", "midsize"),
    "large": ("large", "big", "huge"),
}
ROW_WORDS: dict[str, tuple[str, ...]] = {"top": ("top", "upper"), "bottom": ("bottom", "lower")}
CENTER_WORDS: tuple[str, ...] = ("center", "middle")
# motion -> words for it; linear motion adds a direction word after its verb
MOTION_WORDS: dict[str, tuple[str, ...]] = {
    "linear": ("moving", "sliding", "drifting"),
    "gravity": ("falling", "bouncing", "dropping"),
    "spin": ("spinning", "rotating", "turning"),
    "pulse": ("pulsing", "throbbing", "breathing"),
}
BACKGROUND_WORDS: dict[str, tuple[str, ...]] = {
    "black": ("black", "dark"),
    "gray": ("gray", "grey"),
    "white": ("white", "pale"),
    "shaded": ("shaded", "gradient"),
}
# the glue words templates use around the attribute words
FUNCTION_WORDS: tuple[str, ...] = (
    "a", "an", "the", "at", "in", "on", "of", "and", "there", "is", "corner", "background", "with",
    "side", "here", "we", "see", "to",
)


def words(text: str) -> list[str]:
    """Split a caption into lower-case words (punctuation and hyphens separate words)."""
    return re.findall(r"[a-z]+", text.lower())


def vocabulary() -> list[str]:
    """Every word a generated caption can contain, sorted."""
    vocab = set(FUNCTION_WORDS) | set(COLUMNS) | set(CENTER_WORDS) | set(DIRECTIONS)
    for table in (COLOR_WORDS, SHAPE_WORDS, SIZE_WORDS, ROW_WORDS, MOTION_WORDS, BACKGROUND_WORDS):
        for synonyms in table.values():
            vocab.update(synonyms)
    return sorted(vocab)
