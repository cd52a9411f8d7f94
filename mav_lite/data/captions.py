"""Captions for Shapes World scenes, and the parser that reads them back.

Captions come from templates with synonyms and varied word order, e.g.

    "a small red circle at the top left"
    "top-left: tiny crimson disc"
    "there is a big cobalt star in the lower right corner on a dark background"
    "a large blue heart spinning and a small yellow box falling"

`parse_caption` turns any of them (and a user's prompt in the same words) back into attributes:
the tests check that it recovers every generated caption's ground truth, and the evaluation
(notebook 13) uses it to know what a prompt asked for.
"""

from __future__ import annotations

import numpy as np

from .vocab import (BACKGROUND_WORDS, CENTER_WORDS, COLOR_WORDS, COLUMNS, DIRECTIONS, MOTION_WORDS, ROW_WORDS,
                    SHAPE_WORDS, SIZE_WORDS, words)

def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _position_phrase(rng: np.random.Generator, position: str, prefix: bool) -> str:
    """A phrase for a cell of the 3x3 grid: "at the top left", "upper-right corner", "center"..."""
    parts = position.split()
    if position == "center":
        core = _pick(rng, CENTER_WORDS)
    elif parts[0] == "middle":  # middle left / middle right
        side = _pick(rng, (parts[1], f"{parts[1]} side"))
        return side if prefix else f"on the {side}"
    else:
        row = _pick(rng, ROW_WORDS[parts[0]])  # "upper left", "lower-right"; plain "top" / "bottom" alone
        core = parts[0] if parts[1] == "center" else _pick(rng, (f"{row} {parts[1]}", f"{row}-{parts[1]}"))
        if parts[1] != "center" and not prefix and rng.random() < 0.3:
            core += " corner"
    if prefix:
        return core
    return f"{_pick(rng, ('at the', 'in the', 'on the'))} {core}"


def _motion_phrase(rng: np.random.Generator, motion: str, direction: str | None) -> str:
    verb = _pick(rng, MOTION_WORDS[motion])
    return f"{verb} {direction}" if motion == "linear" else verb


def object_phrase(rng: np.random.Generator, obj: dict, with_position: bool = True) -> str:
    """Words for one object: size, colour, shape, then a position or a motion."""
    size = _pick(rng, SIZE_WORDS[obj["size"]])
    color = _pick(rng, COLOR_WORDS[obj["color"]])
    shape = _pick(rng, SHAPE_WORDS[obj["shape"]])
    if "motion" in obj:
        tail = _motion_phrase(rng, obj["motion"], obj.get("direction"))
        return f"{size} {color} {shape} {tail}"
    if not with_position:
        return f"{size} {color} {shape}"
    style = int(rng.integers(4))
    if style == 0:  # "top-left: tiny crimson disc"
        return f"{_position_phrase(rng, obj['position'], prefix=True)}: {size} {color} {shape}"
    if style == 1:  # "a crimson disc, tiny, at the top left"
        return f"{color} {shape}, {size}, {_position_phrase(rng, obj['position'], prefix=False)}"
    return f"{size} {color} {shape} {_position_phrase(rng, obj['position'], prefix=False)}"


def _article(phrase: str) -> str:
    if phrase.split(":")[0] != phrase:  # "top-left: ..." takes no article
        return phrase
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def make_caption(rng: np.random.Generator, objects: list[dict], background: str | None = None) -> str:
    """A caption for a scene (objects with a "motion" key are described by their motion)."""
    phrases = [_article(object_phrase(rng, o)) for o in objects]
    text = phrases[0] if len(phrases) == 1 else _pick(rng, (" and ", "; ", " with "))
    if len(phrases) > 1:
        text = text.join(phrases)
    if rng.random() < 0.25 and ":" not in phrases[0]:
        text = f"there is {text}"
    if background is not None and rng.random() < 0.3:
        text += f" on a {_pick(rng, BACKGROUND_WORDS[background])} background"
    return text


# ---- parsing ---------------------------------------------------------------------------------

def _lookup(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {w: key for key, synonyms in table.items() for w in synonyms}


COLOR_OF, SHAPE_OF = _lookup(COLOR_WORDS), _lookup(SHAPE_WORDS)  # word -> colour / shape name
_SIZE = _lookup(SIZE_WORDS)
_ROW, _MOTION, _BACKGROUND = _lookup(ROW_WORDS), _lookup(MOTION_WORDS), _lookup(BACKGROUND_WORDS)


def _parse_object(tokens: list[str]) -> dict:
    obj: dict = {}
    row = col = None
    centre = False
    for i, w in enumerate(tokens):
        if w in _MOTION:
            obj["motion"] = _MOTION[w]
            if obj["motion"] == "linear" and i + 1 < len(tokens) and tokens[i + 1] in DIRECTIONS:
                obj["direction"] = tokens[i + 1]
        elif w in DIRECTIONS and i > 0 and tokens[i - 1] in _MOTION:
            continue  # the direction of a linear motion, not a position
        elif w in COLOR_OF:
            obj["color"] = COLOR_OF[w]
        elif w in SHAPE_OF:
            obj["shape"] = SHAPE_OF[w]
        elif w in _SIZE:
            obj["size"] = _SIZE[w]
        elif w in _ROW:
            row = _ROW[w]
        elif w in CENTER_WORDS:
            centre = True
        elif w in COLUMNS:
            col = w
    if row or col or centre:
        obj["position"] = "center" if not (row or col) else f"{row or 'middle'} {col or 'center'}"
    return obj


def parse_caption(text: str) -> dict:
    """Attributes a caption names: {"objects": [{"shape", "color", "size", "position" | "motion", ...}],
    "background": name or None}. Attributes the caption does not mention are absent."""
    low = text.lower()
    background = None
    if " background" in low:
        head, _, _ = low.rpartition(" background")
        low_head, _, bg_words = head.rpartition(" on a ")
        bg = [_BACKGROUND[w] for w in words(bg_words) if w in _BACKGROUND]
        if bg:
            background, low = bg[0], low_head
    segments = [low]
    for sep in (" and ", "; ", " with "):
        segments = [part for seg in segments for part in seg.split(sep)]
    objects = [_parse_object(words(seg)) for seg in segments]
    return {"objects": [o for o in objects if o], "background": background}
