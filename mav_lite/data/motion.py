"""Continuous-time motion for Shapes World videos.

A clip samples a trajectory at times t_k = t_0 + k / fps, so the motion between two frames shrinks
as fps rises: fps is a real control of motion, as in the paper, where D^t is conditioned on it.
Every trajectory is a closed-form function of time (no simulation steps), so any fps gives frames
of one and the same motion.

- linear: constant velocity, elastic bounces off the walls (a triangle wave per axis);
- gravity: falls from an apex and bounces elastically on the floor (a periodic parabola);
- spin: rotates in place at a constant angular speed;
- pulse: grows and shrinks periodically around its size.
"""

from __future__ import annotations

import numpy as np

GRAVITY = 2.5  # image heights per second^2: a drop of half the frame takes ~0.6 s
PULSE_AMPLITUDE = 0.2  # the radius swings +-20% around its size


def _bounce(start, velocity, t, lo, hi):
    """Position at time t of a point moving at `velocity` between walls lo and hi (elastic)."""
    span = hi - lo
    u = np.mod(start - lo + velocity * t, 2 * span)
    return lo + span - np.abs(u - span)


def _bounce_velocity(start, velocity, t, lo, hi):
    span = hi - lo
    u = np.mod(start - lo + velocity * t, 2 * span)
    return np.where(u < span, velocity, -velocity)


def sample_motion(rng: np.random.Generator, motion: str, reach: float) -> dict:
    """Random parameters of a motion, for an object whose circumradius is `reach` (image units).

    The object's start centre ("x", "y") is part of the parameters; it always stays in frame.
    """
    lo, hi = reach, 1.0 - reach
    p: dict = {"motion": motion, "lo": lo, "hi": hi}
    p["x"], p["y"] = rng.uniform(lo, hi, size=2)
    p["angle"] = float(rng.uniform(-0.25, 0.25))
    if motion == "linear":
        heading, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.45)  # image widths per second
        p["vx"], p["vy"] = speed * np.cos(heading), speed * np.sin(heading)
    elif motion == "gravity":
        p["apex"] = float(rng.uniform(lo, lo + 0.5 * (hi - lo)))
        p["vx"] = float(rng.uniform(-0.1, 0.1))
        p["phase"] = float(rng.uniform(0, 10))
    elif motion == "spin":
        p["omega"] = float(rng.choice([-1, 1]) * rng.uniform(1.5, 4.0))  # radians per second
    elif motion == "pulse":
        p["freq"] = float(rng.uniform(0.4, 1.0))  # Hz
        p["phase"] = float(rng.uniform(0, 2 * np.pi))
    else:
        raise ValueError(f"unknown motion {motion!r}")
    return {k: float(v) if not isinstance(v, str) else v for k, v in p.items()}


def trajectory(p: dict, radius: float, times: np.ndarray) -> dict[str, np.ndarray]:
    """Centre, angle and radius of an object at each time: arrays shaped like `times`."""
    t = np.asarray(times, np.float64)
    x, y = np.full_like(t, p["x"]), np.full_like(t, p["y"])
    angle, r = np.full_like(t, p["angle"]), np.full_like(t, radius)
    motion = p["motion"]
    if motion == "linear":
        x = _bounce(p["x"], p["vx"], t, p["lo"], p["hi"])
        y = _bounce(p["y"], p["vy"], t, p["lo"], p["hi"])
    elif motion == "gravity":
        drop = p["hi"] - p["apex"]
        period = 2 * np.sqrt(2 * drop / GRAVITY)
        s = np.mod(t + p["phase"], period) - period / 2  # time since the apex
        y = p["apex"] + 0.5 * GRAVITY * s**2  # y = apex + g s^2 / 2, floor reached at s = +-period/2
        x = _bounce(p["x"], p["vx"], t, p["lo"], p["hi"])
    elif motion == "spin":
        angle = p["angle"] + p["omega"] * t
    elif motion == "pulse":
        r = radius * (1 + PULSE_AMPLITUDE * np.sin(2 * np.pi * p["freq"] * t + p["phase"]))
    return {"x": x, "y": y, "angle": angle, "radius": r}


def direction_at(p: dict, t: float) -> str:
    """The dominant direction of a linear motion at time t: left, right, up or down (y is down)."""
    vx = float(_bounce_velocity(p["x"], p["vx"], t, p["lo"], p["hi"]))
    vy = float(_bounce_velocity(p["y"], p["vy"], t, p["lo"], p["hi"]))
    if abs(vx) >= abs(vy):
        return "right" if vx > 0 else "left"
    return "down" if vy > 0 else "up"
