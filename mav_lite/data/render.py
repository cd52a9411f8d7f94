"""Anti-aliased, vectorized rendering of Shapes World scenes at any resolution.

Each shape is a signed distance function (SDF) in its own unit frame (negative inside). A pixel's
coverage is `clip(0.5 - d, 0, 1)` with `d` the signed distance from the pixel centre in pixels: a
one-pixel ramp across every edge, which is what a box filter over the pixel gives for a straight
edge. Because geometry lives in image units ([0, 1] across), the same scene renders at 16^2 or
768^2, so the super-resolution stages get true high-resolution targets.

All scenes of a batch are drawn at once with numpy broadcasting (no loop over pixels); the output
is quantized to 8 bits like any real image, so tiny float differences between machines vanish.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .vocab import BACKGROUNDS, SHAPES


def _segment_sdf(qx, qy, ax, ay, bx, by):
    """Signed distance to the segment A-B, negative on the origin's side of the line A-B."""
    pax, pay = qx - ax, qy - ay
    bax, bay = bx - ax, by - ay
    h = np.clip((pax * bax + pay * bay) / (bax * bax + bay * bay), 0.0, 1.0)
    dist = np.hypot(pax - bax * h, pay - bay * h)
    origin_side = np.sign(bax * -ay - bay * -ax)  # cross(B - A, O - A)
    inside = np.sign(bax * pay - bay * pax) == origin_side
    return np.where(inside, -dist, dist)


def _star_sdf(x, y, points: int, inner: float):
    """A regular star with `points` tips at radius 1 (tip up) and inner vertices at `inner`.

    With inner = cos(pi / points) this is the regular polygon. The plane is folded by symmetry
    into the wedge between a tip (angle 0) and the next inner vertex (angle pi / points), where the
    boundary is one segment.
    """
    wedge = 2 * np.pi / points
    angle = np.arctan2(x, y)  # measured from the +y axis, so a tip points up
    folded = np.abs(np.mod(angle + wedge / 2, wedge) - wedge / 2)
    rho = np.hypot(x, y)
    qx, qy = rho * np.cos(folded), rho * np.sin(folded)
    half = wedge / 2
    return _segment_sdf(qx, qy, 1.0, 0.0, inner * np.cos(half), inner * np.sin(half))


def _box_sdf(x, y, half_w: float, half_h: float):
    qx, qy = np.abs(x) - half_w, np.abs(y) - half_h
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _heart_sdf(x, y):
    """A square turned 45 degrees with a half-disc on each upper edge (a union: min of SDFs)."""
    a, cy = 0.5, -0.07
    lobe = a * np.sqrt(0.5)  # the centre of each upper edge, relative to the square's centre
    rx, ry = (x + (y - cy)) * np.sqrt(0.5), (-(x) + (y - cy)) * np.sqrt(0.5)  # rotate by -45 deg
    square = _box_sdf(rx, ry, a, a)
    left = np.hypot(x + lobe, y - cy - lobe) - a
    right = np.hypot(x - lobe, y - cy - lobe) - a
    return np.minimum(square, np.minimum(left, right))


def unit_sdf(shape: str, x, y):
    """Signed distance to `shape` in its unit frame (y up, fits in the unit disc)."""
    if shape == "circle":
        return np.hypot(x, y) - 1.0
    if shape == "square":
        return _box_sdf(x, y, 0.72, 0.72)
    if shape == "triangle":
        return _star_sdf(x, y, 3, np.cos(np.pi / 3))
    if shape == "star":
        return _star_sdf(x, y, 5, 0.48)
    if shape == "hexagon":
        return _star_sdf(x, y, 6, np.cos(np.pi / 6))
    if shape == "diamond":
        return _segment_sdf(np.abs(x), np.abs(y), 0.66, 0.0, 0.0, 1.0)
    if shape == "cross":
        return np.minimum(_box_sdf(x, y, 0.9, 0.3), _box_sdf(x, y, 0.3, 0.9))
    if shape == "heart":
        return _heart_sdf(x, y)
    raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}")


@cache
def shape_metrics(shape: str) -> tuple[float, float]:
    """(area, circumradius) of the unit shape, measured once on a fine grid.

    Objects are scaled to equal *area* (a size word means the same number of pixels for a star as
    for a circle); the circumradius keeps objects inside the frame and apart from each other.
    """
    n = 1024
    grid = (np.arange(n) + 0.5) / n * 2.4 - 1.2  # covers [-1.2, 1.2]
    x, y = np.meshgrid(grid, grid)
    inside = unit_sdf(shape, x, y) < 0
    area = float(inside.sum()) * (2.4 / n) ** 2
    radius = float(np.hypot(x[inside], y[inside]).max())
    return area, radius


def unit_scale(shape: str) -> float:
    """How much to scale the unit shape so its area is that of the unit circle (pi)."""
    area, _ = shape_metrics(shape)
    return float(np.sqrt(np.pi / area))


def extent(shape: str, radius) -> np.ndarray:
    """Circumradius in image units of a `shape` whose equal-area radius is `radius`."""
    return np.asarray(radius) * unit_scale(shape) * shape_metrics(shape)[1]


def backgrounds(names: list[str], size: int) -> np.ndarray:
    """(N, H, W, 3) float32 in 0..255 for the named backgrounds."""
    ramp = ((np.arange(size, dtype=np.float32) + 0.5) / size)[:, None]  # (H, 1)
    out = np.empty((len(names), size, size, 3), np.float32)
    for i, name in enumerate(names):
        top, bottom = (np.asarray(c, np.float32) for c in BACKGROUNDS[name])
        out[i] = (top + (bottom - top) * ramp)[:, None, :]  # (H, 1, 3) -> broadcast over W
    return out


def _layers(scenes: list[list[dict]]) -> dict[str, np.ndarray]:
    """Object lists -> (N, K) arrays, K = most objects in a scene ("shape" -1 where none)."""
    n, k = len(scenes), max(len(objs) for objs in scenes)
    layers = {"shape": np.full((n, k), -1, np.int64), "rgb": np.zeros((n, k, 3), np.float32)}
    for key in ("x", "y", "radius", "angle"):
        layers[key] = np.zeros((n, k), np.float32)
    for i, objs in enumerate(scenes):
        for j, obj in enumerate(objs):
            layers["shape"][i, j] = SHAPES.index(obj["shape"])
            layers["rgb"][i, j] = obj["rgb"]
            for key in ("x", "y", "radius", "angle"):
                layers[key][i, j] = obj[key]
    return layers


def render(scenes: list[list[dict]], background: list[str], size: int) -> np.ndarray:
    """Draw a batch of scenes; returns (N, H, W, 3) uint8.

    Each scene is a list of objects drawn in order (later on top), each a dict with "shape", "rgb"
    (0..255), "x", "y" (centre, image units, y down), "radius" (equal-area radius, image units)
    and "angle" (radians, counter-clockwise). Objects of one shape are drawn together, vectorized.
    """
    layers = _layers(scenes)
    image = backgrounds(background, size)  # (N, H, W, 3)
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres, image units
    px, py = centres[None, None, :], centres[None, :, None]  # (1, 1, W), (1, H, 1)
    for k in range(layers["shape"].shape[1]):
        for s, shape in enumerate(SHAPES):
            idx = np.flatnonzero(layers["shape"][:, k] == s)
            if idx.size == 0:
                continue
            x, y, radius, angle = (layers[key][idx, k][:, None, None] for key in ("x", "y", "radius", "angle"))
            scale = radius * unit_scale(shape)  # image units per unit-frame unit, (n, 1, 1)
            cos, sin = np.cos(angle), np.sin(angle)
            dx, dy = px - x, y - py  # y up in the shape's frame
            lx = (cos * dx + sin * dy) / scale  # rotate by -angle into the unit frame
            ly = (cos * dy - sin * dx) / scale
            dist_px = unit_sdf(shape, lx, ly) * scale * size  # (n, H, W) signed distance in pixels
            alpha = np.clip(0.5 - dist_px, 0.0, 1.0)[..., None]  # (n, H, W, 1)
            rgb = layers["rgb"][idx, k][:, None, None, :]  # (n, 1, 1, 3)
            image[idx] += alpha * (rgb - image[idx])
    return np.rint(image).astype(np.uint8)
