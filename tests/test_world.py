import numpy as np
import pytest
import torch

from mav_lite.data import COLORS, HELD_OUT_MOTIONS, HELD_OUT_PAIRS, POSITIONS, SIZES, ShapesWorld, parse_caption
from mav_lite.data.render import render


@pytest.fixture(scope="module")
def world():
    return ShapesWorld(size=32, seed=0)


def test_same_seed_and_index_same_pixels(world):
    a, cap_a, _ = world.image(7)
    b, cap_b, _ = ShapesWorld(size=32, seed=0).image(7)
    assert torch.equal(a, b) and cap_a == cap_b
    batch, captions, _ = world.images([3, 7, 5])
    assert torch.equal(batch[1], a) and captions[1] == cap_a  # order and batching do not matter
    assert not torch.equal(world.image(8)[0], a)
    assert not torch.equal(ShapesWorld(size=32, seed=1).image(7)[0], a)
    v1, _ = world.video(4, frames=6, fps=8)
    v2, _ = ShapesWorld(size=32, seed=0).videos([9, 4], frames=6, fps=8)
    assert torch.equal(v1, v2[1])


def test_shapes_and_range(world):
    img, caption, attrs = world.image(0)
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1
    video, attrs = world.video(0, frames=5, fps=8)
    assert video.shape == (3, 5, 32, 32)
    clip, caption, attrs = world.eval_clip(0, frames=4, fps=8, size=48)
    assert clip.shape == (3, 4, 48, 48) and caption == attrs["caption"]
    for obj in attrs["objects"]:
        assert {"shape", "color", "size", "x", "y", "motion", "track"} <= obj.keys()


def _pixel(img, x, y):
    h, w = img.shape[-2:]
    return ((img[:, int(y * h), int(x * w)] + 1) * 127.5).round()


def test_caption_colour_is_where_the_caption_says(world):
    for i in range(300):
        img, caption, attrs = world.image(i, size=64)
        said = parse_caption(caption)["objects"]
        assert len(said) == len(attrs["objects"])
        for obj, words in zip(attrs["objects"], said):
            assert (words["color"], words["shape"], words["size"]) == (obj["color"], obj["shape"], obj["size"])
            row, col = POSITIONS[words["position"]]
            assert col / 3 <= obj["x"] <= (col + 1) / 3 and row / 3 <= obj["y"] <= (row + 1) / 3, caption
            assert torch.equal(_pixel(img, obj["x"], obj["y"]), torch.tensor(COLORS[words["color"]]).float()), caption


def test_mask_area_matches_the_size_word(world):
    size = 128
    for i in range(120):
        attrs = world.scene(i)
        for obj in attrs["objects"]:
            alone = render([[obj | {"rgb": (255, 255, 255)}]], ["black"], size)  # white on black
            coverage = (alone[0, ..., 0].astype(np.float64) - 14) / (255 - 14)
            area = coverage.sum() / size**2
            lo, hi = SIZES[obj["size"]]
            assert np.pi * lo**2 * 0.97 <= area <= np.pi * hi**2 * 1.03, (obj, area)
            assert area == pytest.approx(np.pi * obj["radius"] ** 2, rel=0.03)


def test_any_resolution_renders_the_same_scene(world):
    small, _, _ = world.image(11, size=32)
    big, _, _ = world.image(11, size=128)
    pooled = torch.nn.functional.avg_pool2d(big[None], 4)[0]  # box-filter 128 -> 32
    assert (pooled - small).abs().mean() < 0.03


def test_fps_sets_the_motion_per_frame(world):
    def change(fps):
        videos, _ = world.videos(range(64), frames=8, fps=fps)
        return (videos[:, :, 1:] - videos[:, :, :-1]).abs().mean().item()

    assert change(4) >= 1.5 * change(24)


def test_a_clip_is_one_trajectory_at_any_fps(world):
    _, slow = world.video(3, frames=3, fps=2)
    _, fast = world.video(3, frames=5, fps=4)  # the same times: 0, 0.5, 1.0 s after the start
    for a, b in zip(slow["objects"], fast["objects"]):
        assert np.allclose(a["track"]["x"], b["track"]["x"][::2])
        assert np.allclose(a["track"]["y"], b["track"]["y"][::2])


def test_held_out_compositions_never_appear_in_training(world):
    for i in range(1500):
        for obj in world.scene(i)["objects"]:
            assert (obj["color"], obj["shape"]) not in HELD_OUT_PAIRS
    for i in range(200):
        _, attrs = world.video(i, frames=2)
        for obj in attrs["objects"]:
            assert (obj["color"], obj["shape"]) not in HELD_OUT_PAIRS
            assert (obj["motion"], obj["shape"]) not in HELD_OUT_MOTIONS


def test_held_out_split_always_has_one(world):
    held = set(HELD_OUT_PAIRS)
    for i in range(50):
        first = world.scene(i, split="held_out")["objects"][0]
        assert (first["color"], first["shape"]) in held
        _, _, clip = world.eval_clip(i, frames=2, split="held_out")
        first = clip["objects"][0]
        assert (first["color"], first["shape"]) in held or (first["motion"], first["shape"]) in HELD_OUT_MOTIONS


def test_eval_clip_motion_words_hold(world):
    for i in range(60):
        video, caption, attrs = world.eval_clip(i, frames=8, fps=8)
        said = parse_caption(caption)["objects"]
        for obj, words in zip(attrs["objects"], said):
            assert words["motion"] == obj["motion"], caption
            if obj["motion"] == "linear":
                dx = np.diff(obj["track"]["x"])
                dy = -np.diff(obj["track"]["y"])  # image y points down
                expected = {"left": (dx < 0), "right": (dx > 0), "up": (dy > 0), "down": (dy < 0)}
                assert words["direction"] == obj["direction"] and expected[obj["direction"]].all(), caption


def test_objects_stay_in_frame(world):
    from mav_lite.data.render import extent

    for i in range(100):
        _, attrs = world.video(i, frames=8, fps=2)
        for obj in attrs["objects"]:
            reach = extent(obj["shape"], np.array(obj["track"]["radius"]))
            x, y = np.array(obj["track"]["x"]), np.array(obj["track"]["y"])
            assert (x - reach >= -1e-9).all() and (x + reach <= 1 + 1e-9).all()
            assert (y - reach >= -1e-9).all() and (y + reach <= 1 + 1e-9).all()


@pytest.mark.parametrize("call, error", [
    (lambda w: w.image(-1), IndexError),
    (lambda w: w.image(0, split="train"), ValueError),
    (lambda w: w.video(0, frames=0), ValueError),
    (lambda w: w.video(0, fps=0), ValueError),
    (lambda w: ShapesWorld(size=4), ValueError),
])
def test_bad_arguments_raise_clear_errors(world, call, error):
    with pytest.raises(error):
        call(world)
