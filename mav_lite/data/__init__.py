"""Data for the course: Shapes World (generated, with ground truth) and loaders for your own data."""

from .captions import make_caption, parse_caption
from .streams import ClipStream, ImageStream, ResolutionPairStream
from .vocab import (BACKGROUNDS, COLORS, HELD_OUT_MOTIONS, HELD_OUT_PAIRS, MOTIONS, POSITIONS, SHAPES, SIZES,
                    vocabulary)
from .world import SPLITS, ShapesWorld, resize_images, to_tensor

__all__ = [
    "BACKGROUNDS", "COLORS", "HELD_OUT_MOTIONS", "HELD_OUT_PAIRS", "MOTIONS", "POSITIONS", "SHAPES", "SIZES",
    "SPLITS", "ClipStream", "ImageStream", "ResolutionPairStream", "ShapesWorld", "make_caption", "parse_caption", "resize_images",
    "to_tensor", "vocabulary",
]
