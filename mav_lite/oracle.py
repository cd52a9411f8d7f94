"""The attribute oracle: a small CNN that reads a Shapes World image back into its attributes.

Generated images are judged by what this model reads in them (metrics.py, notebooks 05 and 13):
in which cells of the 3x3 grid objects sit (Shapes World puts at most one in a cell), and the
colour, shape and size of each; so also how many there are and which colour sits on which shape.
It is trained on rendered images with their ground truth, held-out compositions included (it is
the judge, not a generator: it must know a red star when it sees one), and on single frames of
moving clips (any angle, anywhere in their cell), so that it also reads the frames of videos. It
must be near perfect on real renders before its verdict on generated ones means anything
(`Oracle.accuracy`).

    oracle, card = load_pretrained("oracle")
    oracle.read(images)   # [{"count": 1, "objects": [{"color": "red", "shape": "star", "size": ..., "position": ...}]}]
    oracle.features(images)   # (B, 256): the penultimate layer, for FID-lite

Registered as the `oracle` stage: `mav-lite train oracle --preset cpu --out runs/oracle`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import Preset
from .data import COLORS, POSITIONS, SHAPES, SIZES, ShapesWorld, resize_images
from .data.streams import ImageStream
from .train import Stage, register_stage

COLOR_NAMES, SHAPE_NAMES = list(COLORS), list(SHAPES)
POSITION_NAMES, SIZE_NAMES = list(POSITIONS), list(SIZES)
HELD_OUT_EVERY = 8  # one training image in 8 shows a held-out composition
FRAME_EVERY = 4  # one in 4 (of the others) is a frame of a moving clip


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1), nn.GroupNorm(8, c_out), nn.SiLU()]


class Oracle(nn.Module):
    """A detector on the 3x3 grid Shapes World places objects on (one object per cell).

    CNN -> a feature map pooled to the 3x3 cells -> 256 features -> for each cell: is an object
    centred there, and its colour, shape and size.
    """

    def __init__(self, size: int = 32, width: int = 32):
        super().__init__()
        self.size = int(size)
        self.config = dict(size=size, width=width)
        w = width
        self.body = nn.Sequential(*_block(3, w, 1), *_block(w, w, 1), *_block(w, 2 * w, 2), *_block(2 * w, 2 * w, 1),
                                  *_block(2 * w, 4 * w, 2), *_block(4 * w, 4 * w, 1))
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(4 * w * 9, 256), nn.SiLU())
        self.heads = nn.ModuleDict({"present": nn.Linear(256, 9), "color": nn.Linear(256, 9 * len(COLOR_NAMES)),
                                    "shape": nn.Linear(256, 9 * len(SHAPE_NAMES)),
                                    "size": nn.Linear(256, 9 * len(SIZE_NAMES))})

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1], any H, W (resized to the oracle's size) -> (B, 256)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        images = resize_images(images.to(self.heads["present"].weight.device, torch.float32), self.size)
        return self.neck(F.adaptive_avg_pool2d(self.body(images), 3))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per cell (cells in POSITIONS order): present (B, 9), color (B, 9, colours),
        shape (B, 9, shapes), size (B, 9, sizes)."""
        h = self.features(images)
        return {k: head(h) if k == "present" else head(h).unflatten(1, (9, -1)) for k, head in self.heads.items()}

    @torch.no_grad()
    def read(self, images: torch.Tensor) -> list[dict]:
        """What the oracle sees in each image: {"count", "objects": [{"color", "shape", "size",
        "position"}, ...]}, the most certain object first."""
        out = self(images)
        readings = []
        for i, present in enumerate(out["present"].sigmoid()):
            cells = [c for c in present.argsort(descending=True).tolist() if present[c] > 0.5]
            cells = cells or [int(present.argmax())]  # an image shows at least one object
            objects = [{"color": COLOR_NAMES[int(out["color"][i, c].argmax())],
                        "shape": SHAPE_NAMES[int(out["shape"][i, c].argmax())],
                        "size": SIZE_NAMES[int(out["size"][i, c].argmax())], "position": POSITION_NAMES[c]}
                       for c in cells]
            readings.append({"count": len(objects), "objects": objects})
        return readings

    def accuracy(self, images: torch.Tensor, scenes: list[dict]) -> dict[str, float]:
        """How well the oracle reads real renders with known ground truth (it must be near perfect):
        the share of images with the right count, the right (colour, shape) pairs, and, for single
        objects, the right position and size."""
        hits = {"count": [], "objects": [], "position": [], "size": []}
        for seen, truth in zip(self.read(images), scenes):
            objects = truth["objects"]
            hits["count"].append(seen["count"] == len(objects))
            hits["objects"].append(_pair_set(seen["objects"]) == _pair_set(objects))
            if len(objects) == 1:
                hits["position"].append(seen["objects"][0]["position"] == objects[0]["position"])
                hits["size"].append(seen["objects"][0]["size"] == objects[0]["size"])
        return {k: sum(v) / max(1, len(v)) for k, v in hits.items()}


def _pair_set(objects) -> set[tuple[str, str]]:
    return {(o["color"], o["shape"]) for o in objects}


def targets(scenes: list[dict]) -> dict[str, torch.Tensor]:
    """Ground truth of a batch as the heads' targets: present (B, 9) in {0, 1}; colour, shape and
    size (B, 9) class indices, -100 (ignored) in empty cells."""
    present = torch.zeros(len(scenes), 9)
    labels = {k: torch.full((len(scenes), 9), -100) for k in ("color", "shape", "size")}
    names = {"color": COLOR_NAMES, "shape": SHAPE_NAMES, "size": SIZE_NAMES}
    for i, scene in enumerate(scenes):
        for o in scene["objects"]:
            cell = POSITION_NAMES.index(o["position"])
            present[i, cell] = 1
            for k in labels:
                labels[k][i, cell] = names[k].index(o[k])
    return {"present": present, **labels}


def cell(x: float, y: float) -> str:
    """The POSITIONS key of the 3x3 grid cell holding the point (x, y) (in image widths)."""
    row, col = min(2, max(0, int(y * 3))), min(2, max(0, int(x * 3)))
    return POSITION_NAMES[[POSITIONS[k] for k in POSITION_NAMES].index((row, col))]


def clip_frame(world: ShapesWorld, index: int) -> tuple[torch.Tensor, dict]:
    """A frame of an unlabeled clip at a random moment, as an image and a scene whose objects sit
    in different cells (the oracle's grid holds one object per cell; clips where two share a
    cell at that moment are passed over, deterministically)."""
    for attempt in range(100):
        videos, clips = world.videos([index + attempt * (1 << 32)], frames=1)
        objects = [{**o, "position": cell(o["x"], o["y"])} for o in clips[0]["objects"]]
        if len({o["position"] for o in objects}) == len(objects):
            return videos[0, :, 0], {"objects": objects, "background": clips[0]["background"]}
    raise RuntimeError(f"no frame with objects in separate cells near clip {index}")


class SceneStream(ImageStream):
    """Batches of (images, scenes): one in HELD_OUT_EVERY from the held-out compositions, one in
    FRAME_EVERY of the others a frame of a moving clip."""

    def _batch(self, indices):
        held = [i for i in indices if i % HELD_OUT_EVERY == 0]
        frames = [i for i in indices if i % HELD_OUT_EVERY and i % FRAME_EVERY == 1]
        seen = [i for i in indices if i % HELD_OUT_EVERY and i % FRAME_EVERY != 1]
        images, _, scenes = self.world.images(seen)
        if held:
            held_images, _, held_scenes = self.world.images([i // HELD_OUT_EVERY for i in held], split="held_out")
            images, scenes = torch.cat([images, held_images]), scenes + held_scenes
        if frames:
            frame_images, frame_scenes = zip(*(clip_frame(self.world, i) for i in frames))
            images, scenes = torch.cat([images, torch.stack(frame_images)]), scenes + list(frame_scenes)
        return images, scenes


def stream(preset: Preset, options: dict, data_seed: int, batch_size: int, position: int,
           samples: int) -> SceneStream:
    return SceneStream(ShapesWorld(size=preset.world.image_size, seed=data_seed), batch_size, position)


def loss(model, batch, generator: torch.Generator, options: dict) -> torch.Tensor:
    images, scenes = batch
    device = generator.device
    out = {k: v.float() for k, v in model(images.to(device)).items()}
    target = {k: v.to(device) for k, v in targets(scenes).items()}
    return (F.binary_cross_entropy_with_logits(out["present"], target["present"]) * 9
            + sum(F.cross_entropy(out[k].flatten(0, 1), target[k].flatten()) for k in ("color", "shape", "size")))


register_stage(Stage(
    name="oracle",
    description="the attribute oracle that judges generated images (notebook 05)",
    sizes=lambda p: p.oracle,
    build=lambda preset, options: Oracle(preset.world.image_size, preset.oracle.width),
    stream=stream,
    loss=loss,
    sample=None,
    rebuild=lambda config: Oracle(**config),
))
