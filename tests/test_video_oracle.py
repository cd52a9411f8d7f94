"""The motion oracle and the clip metrics built on it: FVD-lite and temporal consistency."""

import pytest
import torch

from mav_lite.checkpoints import load_pretrained
from mav_lite.data import ShapesWorld
from mav_lite.metrics import fvd_lite, temporal_consistency
from mav_lite.train import train
from mav_lite.video_oracle import VideoOracle, targets

QUIET = dict(progress=False, save_every=1000, sample_every=1000, val_every=1000, precision="no")


@pytest.fixture(scope="module")
def clips():
    return ShapesWorld(size=16, seed=21).videos(range(96), frames=4, fps=[2, 6, 24] * 32)


def test_targets_read_the_clip_attributes(clips):
    _, attrs = clips
    target = targets(attrs)
    for clip, motions, direction, log2_fps in zip(attrs, target["motions"], target["direction"], target["log2_fps"]):
        assert {m for m, on in zip(("linear", "gravity", "spin", "pulse"), motions) if on} == \
            {o["motion"] for o in clip["objects"]}
        linear = [o for o in clip["objects"] if o["motion"] == "linear"]
        assert (direction >= 0) == (len(linear) == 1)
        assert 2 ** log2_fps == pytest.approx(clip["fps"])


def test_motion_oracle_loss_falls(tmp_path):
    run = train("video_oracle", "ci", tmp_path / "vo", steps=80, lr=1e-2, warmup=5, **(QUIET | {"val_every": 20}))
    val = run.history["val_loss"]
    assert val[-1] < 0.8 * val[0], val


def test_fvd_lite_is_zero_for_one_set_and_grows_with_damage(clips):
    torch.manual_seed(0)
    oracle = VideoOracle(size=16, width=8).eval()
    videos, _ = clips
    a, b = videos[:48], videos[48:]
    assert fvd_lite(oracle, a, a) == pytest.approx(0, abs=1e-3)
    floor = fvd_lite(oracle, a, b)
    assert fvd_lite(oracle, a, (b + 0.5 * torch.randn_like(b)).clamp(-1, 1)) > 1.5 * floor  # even untrained features
    with pytest.raises(ValueError, match="clips of shape"):
        fvd_lite(oracle, a[:, :, 0], a[:, :, 0])
    with pytest.raises(ValueError, match="T >= 2"):
        oracle.features(a[:, :, :1])


def test_temporal_consistency_catches_an_object_that_changes():
    oracle = load_pretrained("oracle")[0]
    world = ShapesWorld(size=32, seed=4)
    images, _, scenes = world.images(range(16))
    one = [i for i, s in enumerate(scenes) if len(s["objects"]) == 1][:2]
    still = images[one[0]][:, None].repeat(1, 4, 1, 1)  # (3, 4, H, W): one frame held
    changed = still.clone()
    changed[:, 2] = images[one[1]]  # another object in frame 2
    assert temporal_consistency(oracle, torch.stack([still, changed])).tolist() == [True, False]


def test_temporal_consistency_counts_objects_too():
    class Reader:  # an oracle that reads one red circle, then two
        def read(self, frames):
            one = {"count": 1, "objects": [{"color": "red", "shape": "circle"}]}
            return [one, one, {"count": 2, "objects": one["objects"] * 2}, one] + [one] * 4

    assert temporal_consistency(Reader(), torch.zeros(2, 3, 4, 8, 8)).tolist() == [False, True]


def test_reference_motion_oracle_reads_real_clips():
    video_oracle = load_pretrained("video_oracle")[0]
    videos, attrs = ShapesWorld(size=32, seed=11).videos(range(128), frames=8, fps=[2, 8, 24, 4] * 32)
    accuracy = video_oracle.accuracy(videos, attrs)
    assert accuracy["motions"] >= 0.6 and accuracy["direction"] >= 0.5 and accuracy["fps_factor"] <= 1.35, accuracy
    readings = video_oracle.read(videos[:4])
    assert all(set(r) == {"motions", "direction", "fps"} and r["fps"] > 0 for r in readings)


def test_fvd_lite_sees_time_where_fid_cannot():
    video_oracle = load_pretrained("video_oracle")[0]
    videos, _ = ShapesWorld(size=32, seed=12).videos(range(128), frames=8, fps=8)
    a, b = videos[:64], videos[64:]
    shuffled = b[:, :, torch.randperm(8, generator=torch.Generator().manual_seed(0))]  # the same frames, out of order
    assert fvd_lite(video_oracle, a, shuffled) > 2 * fvd_lite(video_oracle, a, b)
