"""Shapes World: a generated world of coloured shapes, with ground truth for every attribute.

The data of the whole course (notebook 01 teaches it). No data set can be downloaded here, so we
make our own, and because we make it we know every attribute of every pixel, which makes exact
evaluation possible:

    world = ShapesWorld(size=32, seed=0)
    img, caption, attrs = world.image(i)             # text-image pairs for C_x/C_y, P and D
    video, attrs = world.video(i, frames=8, fps=8)   # unlabeled video for D^t, upF and SR_l^t
    video, caption, attrs = world.eval_clip(i, split="held_out")  # captioned clips for the metrics

Sample i of a stream is drawn from its own generator, seeded by (seed, stream, i): the same seed
and index give the same sample on every machine, in any order, without global random state.
Training data never contains the held-out compositions in `vocab.HELD_OUT_PAIRS` and
`vocab.HELD_OUT_MOTIONS`; the "held_out" split contains only scenes with one of them.
"""

from __future__ import annotations

import numpy as np
import torch

from .captions import make_caption
from .motion import PULSE_AMPLITUDE, direction_at, sample_motion, trajectory
from .render import extent, render
from .vocab import BACKGROUNDS, COLORS, HELD_OUT_MOTIONS, HELD_OUT_PAIRS, INVISIBLE, MOTIONS, POSITIONS, SHAPES, SIZES

SPLITS = ("seen", "held_out")
_STREAMS = {"image/seen": 0, "image/held_out": 1, "video": 2, "clip/seen": 3, "clip/held_out": 4}
_COLOR_NAMES, _SIZE_NAMES, _BG_NAMES = tuple(COLORS), tuple(SIZES), tuple(BACKGROUNDS)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, size, size), antialiased bilinear; as is when already that size."""
    if images.shape[-2:] == (size, size):
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


class ShapesWorld:
    """Scenes of 1-2 shapes: images with captions, videos with motion, held-out compositions.

    size: default resolution of images and frames (any scene also renders at any other size);
    seed: picks the whole world; max_objects: 1 or 2 objects per scene.
    """

    def __init__(self, size: int = 32, seed: int = 0, max_objects: int = 2):
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        if max_objects not in (1, 2):
            raise ValueError(f"max_objects must be 1 or 2, got {max_objects}")
        self.size, self.seed, self.max_objects = int(size), int(seed), max_objects

    def __repr__(self) -> str:
        return f"ShapesWorld(size={self.size}, seed={self.seed}, max_objects={self.max_objects})"

    def _rng(self, stream: str, index: int) -> np.random.Generator:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        return np.random.default_rng([self.seed, _STREAMS[stream], int(index)])

    # ---- sampling attributes -----------------------------------------------------------------

    def _object(self, rng, background: str, pair: tuple[str, str] | None = None) -> dict:
        """Shape, colour and size of one object; `pair` forces a (colour, shape) composition."""
        while pair is None:
            candidate = (_choice(rng, _COLOR_NAMES), _choice(rng, SHAPES))
            if candidate not in HELD_OUT_PAIRS and (candidate[0], background) not in INVISIBLE:
                pair = candidate
        size = _choice(rng, _SIZE_NAMES)
        radius = float(rng.uniform(*SIZES[size]))
        return {"shape": pair[1], "color": pair[0], "rgb": COLORS[pair[0]], "size": size, "radius": radius}

    def _background(self, rng, pairs=()) -> str:
        options = [b for b in _BG_NAMES if all((c, b) not in INVISIBLE for c, _ in pairs)]
        return _choice(rng, options)

    def _place(self, rng, objects: list[dict]) -> None:
        """Put each object's centre in its own cell of the 3x3 grid, in frame, not touching others."""
        keys = list(POSITIONS)
        for _ in range(100):
            cells = rng.permutation(len(keys))[: len(objects)]
            for obj, c in zip(objects, cells):
                row, col = POSITIONS[keys[c]]
                reach = float(extent(obj["shape"], obj["radius"]))
                obj["position"] = keys[c]
                obj["x"] = float(rng.uniform(max(col / 3, reach), min((col + 1) / 3, 1 - reach)))
                obj["y"] = float(rng.uniform(max(row / 3, reach), min((row + 1) / 3, 1 - reach)))
                obj["angle"] = float(rng.uniform(-0.25, 0.25))
            if len(objects) == 1 or self._apart(*objects):
                return
        del objects[1:]  # two objects this large do not fit apart: keep one

    @staticmethod
    def _apart(a: dict, b: dict) -> bool:
        gap = np.hypot(a["x"] - b["x"], a["y"] - b["y"])
        return gap > 1.05 * (extent(a["shape"], a["radius"]) + extent(b["shape"], b["radius"]))

    def scene(self, index: int, split: str = "seen") -> dict:
        """Ground truth of image `index`: objects, background and caption (no pixels)."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        rng = self._rng(f"image/{split}", index)
        forced = _choice(rng, HELD_OUT_PAIRS) if split == "held_out" else None
        background = self._background(rng, [forced] if forced else ())
        count = 1 + int(rng.random() < 0.4) if self.max_objects == 2 else 1
        objects = [self._object(rng, background, forced)]
        objects += [self._object(rng, background) for _ in range(count - 1)]
        self._place(rng, objects)
        caption = make_caption(rng, objects, background)
        return {"objects": objects, "background": background, "caption": caption, "split": split, "index": index}

    # ---- images ------------------------------------------------------------------------------

    def images(self, indices, size: int | None = None, split: str = "seen"):
        """A batch: (B, 3, H, W) in [-1, 1], B captions, B attribute dicts."""
        scenes = [self.scene(int(i), split) for i in indices]
        pixels = render([s["objects"] for s in scenes], [s["background"] for s in scenes],
                        size or self.size)
        return to_tensor(pixels), [s["caption"] for s in scenes], scenes

    def image(self, index: int, size: int | None = None, split: str = "seen"):
        """One image: (3, H, W) in [-1, 1], its caption, its attributes."""
        images, captions, scenes = self.images([index], size, split)
        return images[0], captions[0], scenes[0]

    # ---- videos ------------------------------------------------------------------------------

    def _clip_attrs(self, rng, frames: int, fps: float, split: str | None) -> dict:
        """Objects with motions; `split` None for the unlabeled stream, else a captioned eval clip."""
        forced_pair = forced_motion = None
        if split == "held_out":
            composition = _choice(rng, HELD_OUT_PAIRS + HELD_OUT_MOTIONS)
            if composition in HELD_OUT_MOTIONS:
                forced_motion, shape = composition
                color = _choice(rng, [c for c in _COLOR_NAMES if (c, shape) not in HELD_OUT_PAIRS])
                forced_pair = (color, shape)
            else:
                forced_pair = composition
        background = self._background(rng, [forced_pair] if forced_pair else ())
        count = 1 + int(rng.random() < 0.4) if self.max_objects == 2 else 1
        objects = [self._object(rng, background, forced_pair)]
        objects += [self._object(rng, background) for _ in range(count - 1)]
        t0 = 0.0 if split else float(rng.uniform(0, 8))
        times = t0 + np.arange(frames) / fps
        for k, obj in enumerate(objects):
            motion = forced_motion if (k == 0 and forced_motion) else self._motion(rng, obj["shape"])
            grow = 1 + PULSE_AMPLITUDE if motion == "pulse" else 1.0
            params = sample_motion(rng, motion, float(extent(obj["shape"], obj["radius"] * grow)))
            if motion == "linear" and split:
                _straight_run(rng, params, duration=times[-1] - t0)
            obj["motion"], obj["motion_params"] = motion, params
            if motion == "linear":
                obj["direction"] = direction_at(params, t0)
            track = trajectory(params, obj["radius"], times)
            obj["track"] = {k2: v.tolist() for k2, v in track.items()}
            obj["x"], obj["y"] = track["x"][0], track["y"][0]
        caption = make_caption(rng, objects, background)
        return {"objects": objects, "background": background, "caption": caption, "fps": fps, "frames": frames,
                "times": times.tolist(), "split": split}

    @staticmethod
    def _motion(rng, shape: str) -> str:
        options = [m for m in MOTIONS if (m, shape) not in HELD_OUT_MOTIONS and (m, shape) != ("spin", "circle")]
        return _choice(rng, options)  # a spinning circle would look still

    def _render_clips(self, clips: list[dict], size: int | None) -> torch.Tensor:
        frames = clips[0]["frames"]
        scenes = [[{**o, **{k: o["track"][k][t] for k in o["track"]}} for o in c["objects"]]
                  for c in clips for t in range(frames)]
        backgrounds = [c["background"] for c in clips for _ in range(frames)]
        pixels = render(scenes, backgrounds, size or self.size)  # (B*T, H, W, 3)
        video = to_tensor(pixels)  # (B*T, 3, H, W)
        return video.reshape(len(clips), frames, *video.shape[1:]).transpose(1, 2)  # (B, 3, T, H, W)

    def videos(self, indices, frames: int = 8, fps=8, size: int | None = None):
        """Unlabeled clips (the video stream): (B, 3, T, H, W) in [-1, 1] and B attribute dicts.

        fps: one number for every clip, or one per clip.
        """
        indices = [int(i) for i in indices]
        fps_list = list(fps) if np.ndim(fps) else [fps] * len(indices)
        _check_clip(frames, fps_list)
        clips = [self._clip_attrs(self._rng("video", i), frames, float(f), None) | {"index": i}
                 for i, f in zip(indices, fps_list)]
        return self._render_clips(clips, size), clips

    def video(self, index: int, frames: int = 8, fps: float = 8, size: int | None = None):
        """One unlabeled clip: (3, T, H, W) in [-1, 1] and its attributes (motion of every object)."""
        videos, clips = self.videos([index], frames, fps, size)
        return videos[0], clips[0]

    def eval_clip(self, index: int, frames: int = 8, fps: float = 8, split: str = "seen", size: int | None = None):
        """A captioned evaluation clip with motion words: (3, T, H, W), caption, attributes.

        Linear motions run straight along one axis without touching a wall, so "moving left" holds
        for the whole clip. split="held_out" gives only scenes with a held-out composition.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
        _check_clip(frames, [fps])
        clip = self._clip_attrs(self._rng(f"clip/{split}", index), frames, float(fps), split) | {"index": index}
        return self._render_clips([clip], size)[0], clip["caption"], clip


def _check_clip(frames: int, fps_list) -> None:
    if int(frames) != frames or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    if any(not np.isfinite(f) or f <= 0 for f in fps_list):
        raise ValueError(f"fps must be positive, got {fps_list}")


def _straight_run(rng, params: dict, duration: float) -> None:
    """Re-aim a linear motion along one axis so that it crosses the frame without a bounce."""
    lo, hi = params["lo"], params["hi"]
    axis, sign = int(rng.integers(2)), _choice(rng, (-1.0, 1.0))
    speed = float(rng.uniform(0.15, 0.45))
    if duration > 0:
        speed = min(speed, 0.9 * (hi - lo) / duration)
    travel = speed * duration
    start = float(rng.uniform(lo, hi - travel)) if sign > 0 else float(rng.uniform(lo + travel, hi))
    velocity = (sign * speed, 0.0) if axis == 0 else (0.0, sign * speed)
    params["vx"], params["vy"] = velocity
    params["x" if axis == 0 else "y"] = start
