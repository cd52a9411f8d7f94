"""The SR cascade: shapes through both stages, shared noise, chunks, conditioning augmentation, errors."""

import pytest
import torch

from mav_lite import superres as sr_lib
from mav_lite.checkpoints import CheckpointError, load_model
from mav_lite.config import get_preset
from mav_lite.data import ResolutionPairStream, ShapesWorld
from mav_lite.pseudo3d import VideoUNet
from mav_lite.train import train
from mav_lite.unet import UNet

QUIET = dict(progress=False, save_every=1000, sample_every=1000, val_every=1000, precision="no")
FAST = dict(steps=2)


def shrunk(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> every frame's 2x2 block means (B, 3, T, H/2, W/2)."""
    return torch.nn.functional.avg_pool3d(clips, (1, 2, 2))


def sr_h() -> UNet:
    torch.manual_seed(0)
    net = sr_lib.build_image(get_preset("ci"), get_preset("ci").sr_high).eval()
    with torch.no_grad():
        for p in net.parameters():  # a trained-looking network: the zero-initialized output moved
            p.add_(0.02 * torch.randn_like(p))
    return net


@pytest.fixture(scope="module")
def sr_l(tmp_path_factory):
    """SR_l^t in ci: image pretraining, then inflated and trained on clips, a few steps each."""
    root = tmp_path_factory.mktemp("sr")
    train("sr_low_image", "ci", root / "image", steps=2, lr=1e-3, warmup=1, **QUIET)
    train("sr_low", "ci", root / "video", steps=2, lr=1e-3, warmup=1, options={"sr_low_image": str(root / "image")},
          **QUIET)
    return root


def test_pairs_are_the_same_scenes_at_two_sizes():
    low, high = next(iter(ResolutionPairStream(ShapesWorld(size=32, seed=0), 4, 16)))
    assert low.shape == (4, 3, 16, 16) and high.shape == (4, 3, 32, 32)
    assert (torch.nn.functional.avg_pool2d(high, 2) - low).abs().mean() < 0.01  # the low render: the block means
    low, high, fps = next(iter(ResolutionPairStream(ShapesWorld(size=32, seed=0), 2, 16, frames=3, fps=(2, 24))))
    assert low.shape == (2, 3, 3, 16, 16) and high.shape == (2, 3, 3, 32, 32) and fps.shape == (2,)
    with pytest.raises(ValueError, match="below the world's 32"):
        ResolutionPairStream(ShapesWorld(size=32, seed=0), 2, 32)


def test_conditioning_augmentation_noises_to_the_level_it_is_told():
    from mav_lite import diffusion

    x = torch.zeros(64, 3, 8, 8)
    schedule = diffusion.schedule_for(sr_lib.SCHEDULE, 1000)
    for level in (0.05, 0.3, 0.5):
        noised = sr_lib.augment(x, torch.full((64,), level), torch.Generator().manual_seed(0))
        expected = (1 - schedule.alpha_bar(torch.tensor([round(level * 999)]))).sqrt().item()  # sqrt(1 - abar_s)
        assert noised.std().item() == pytest.approx(expected, rel=0.05), level
    assert sr_lib.augment(x + 1, torch.zeros(64)).mean() > 0.99
    a, b = sr_lib.aug_embedding(torch.tensor([0.0, 0.3]), 16)
    assert not torch.equal(a, b)


def test_sr_h_takes_images_and_every_frame_of_a_clip():
    net, clip = sr_h(), ShapesWorld(size=32, seed=0).videos(range(2), 3, 8)[0]
    assert sr_lib.sample(net, clip[:, :, 0], 64, seed=0, **FAST).shape == (2, 3, 64, 64)
    out = sr_lib.sample(net, clip, 64, seed=0, **FAST)
    assert out.shape == (2, 3, 3, 64, 64) and torch.equal(out, sr_lib.sample(net, clip, 64, seed=0, **FAST))


def test_shared_noise_gives_identical_frames_for_a_static_clip_and_independent_noise_does_not():
    net = sr_h()
    frame = ShapesWorld(size=32, seed=0).image(3)[0]
    static = frame[None, :, None].expand(1, 3, 4, 32, 32)
    shared = sr_lib.sample(net, static, 64, seed=0, **FAST)
    independent = sr_lib.sample(net, static, 64, seed=0, shared_noise=False, **FAST)
    assert all(torch.equal(shared[:, :, 0], shared[:, :, t]) for t in range(1, 4))
    assert (independent[:, :, 0] - independent[:, :, 1]).abs().max() > 0.01


def test_chunked_sr_h_equals_unchunked():
    net, clip = sr_h(), ShapesWorld(size=32, seed=0).videos(range(2), 5, 8)[0]
    whole = sr_lib.sample(net, clip, 64, seed=0, **FAST)
    for chunk in (1, 2, 3):
        assert (sr_lib.sample(net, clip, 64, seed=0, chunk=chunk, **FAST) - whole).abs().max() <= 1e-5


def test_consistent_sampling_shrinks_back_to_its_input():
    shrink = torch.nn.functional.avg_pool2d
    x, y = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 8, 8) * 2 - 1
    matched = sr_lib.match_low(x, y)
    assert (shrink(matched, 2) - y).abs().max() <= 1e-6  # its 2x2 block means are the input
    detail = lambda z: z - shrink(z, 2).repeat_interleave(2, -1).repeat_interleave(2, -2)  # noqa: E731
    assert (detail(matched) - detail(x)).abs().max() <= 1e-6  # what varies inside a block is kept
    assert (sr_lib.match_low(x, shrink(x, 2)) - x).abs().max() <= 1e-6  # a consistent picture stays as it is
    with pytest.raises(ValueError, match="not a whole multiple"):
        sr_lib.match_low(torch.zeros(1, 3, 12, 12), torch.zeros(1, 3, 8, 8))
    net, clip = sr_h(), ShapesWorld(size=32, seed=0).videos(range(2), 3, 8)[0]
    for out in (sr_lib.sample(net, clip, 64, seed=0, **FAST), sr_lib.sample(net, clip, 64, seed=0, chunk=2, **FAST)):
        assert out.min() >= -1 and out.max() <= 1
        clamped = shrunk((out.abs() == 1).float()) > 0  # blocks where the output was clamped into [-1, 1]
        assert clamped.float().mean() < 0.2 and (shrunk(out) - clip)[~clamped].abs().max() <= 1e-5
    free = sr_lib.sample(net, clip, 64, seed=0, consistent=False, **FAST)
    assert (shrunk(free) - clip).abs().mean() > 0.1
    with pytest.raises(ValueError, match="whole scale factor"):
        sr_lib.sample(net, clip, 48, **FAST)
    assert sr_lib.sample(net, clip, 48, consistent=False, **FAST).shape == (2, 3, 3, 48, 48)


def test_sr_l_t_is_inflated_from_its_image_pretraining_and_takes_clips_with_fps(sr_l):
    image_sr, _ = load_model(sr_l / "image", "sr_low_image")
    video_sr, _ = load_model(sr_l / "video", "sr_low")
    assert isinstance(video_sr, VideoUNet) and not isinstance(image_sr, VideoUNet)
    fresh = sr_lib._build_video(get_preset("ci"), {**sr_lib.VIDEO_OPTIONS, "sr_low_image": str(sr_l / "image")}).eval()
    clip = ShapesWorld(size=16, seed=0).videos(range(1), 3, 8)[0]
    x, t = torch.randn(1, 3, 3, 32, 32), torch.tensor([400])
    level = sr_lib.aug_embedding(torch.tensor([0.1]), image_sr.config["cond_dim"])
    concat = sr_lib.upsampled(clip, 32)
    expected = torch.stack([image_sr.eval()(x[:, :, f], t, cond=level, concat=concat[:, :, f]) for f in range(3)], 2)
    assert (fresh(x, t, cond=level, concat=concat, fps=torch.tensor([8.0])) - expected).abs().max() <= 1e-5
    low = ShapesWorld(size=16, seed=0).videos(range(2), 7, 8)[0]
    out = sr_lib.sample(video_sr, low, 32, fps=8, seed=0, **FAST)
    assert out.shape == (2, 3, 7, 32, 32) and (shrunk(out) - low).abs().mean() <= 1e-3  # consistent with its input
    assert sr_lib.sample(video_sr, clip, 32, fps=8, seed=0, chunk=2, **FAST).shape == (1, 3, 3, 32, 32)


def test_bad_inputs_get_clear_errors(sr_l):
    net = sr_h()
    video_sr, _ = load_model(sr_l / "video", "sr_low")
    clip = ShapesWorld(size=16, seed=0).videos(range(1), 3, 8)[0]
    with pytest.raises(ValueError, match="images \\(B, 3, h, w\\) or clips"):
        sr_lib.sample(net, torch.zeros(3, 16, 16), 32, **FAST)
    with pytest.raises(ValueError, match="at least 2x2 pixels"):
        sr_lib.sample(net, torch.zeros(1, 3, 1, 1), 32, **FAST)
    with pytest.raises(ValueError, match="square"):
        sr_lib.sample(net, torch.zeros(1, 3, 16, 8), 32, **FAST)
    with pytest.raises(ValueError, match="is not larger"):
        sr_lib.sample(net, clip, 16, **FAST)
    with pytest.raises(ValueError, match="aug is a level"):
        sr_lib.sample(net, clip, 32, aug=1.5, **FAST)
    with pytest.raises(ValueError, match="SR_l\\^t takes clips"):
        sr_lib.sample(video_sr, clip[:, :, 0], 32, fps=8, **FAST)
    with pytest.raises(ValueError, match="needs the clips' fps"):
        sr_lib.sample(video_sr, clip, 32, **FAST)
    with pytest.raises((ValueError, CheckpointError), match="mav-lite train sr_low_image"):
        sr_lib._build_video(get_preset("ci"), sr_lib.VIDEO_OPTIONS)  # no ci reference to inflate


def test_sr_h_loss_falls(tmp_path):
    run = train("sr_high", "ci", tmp_path / "srh", steps=40, lr=3e-3, warmup=4, **(QUIET | {"val_every": 5}))
    val = run.history["val_loss"]
    assert val[-1] < 0.8 * val[0], val


def test_text_to_video_runs_the_whole_chain_and_can_stop_after_any_stage(sr_l, tmp_path):
    from mav_lite import MakeAVideoLite
    from mav_lite import interpolation as upf_lib
    from mav_lite.clip import frozen_clip
    from mav_lite.train import STAGES

    ci = get_preset("ci")
    torch.manual_seed(0)
    prior = STAGES["prior"].build(ci, STAGES["prior"].options)
    decoder = STAGES["decoder"].build(ci, STAGES["decoder"].options)
    video_decoder = STAGES["video_decoder"].build(ci, {**STAGES["video_decoder"].options, "start": "scratch"})
    pipe = MakeAVideoLite(frozen_clip(), prior, decoder, "ci", video_decoder=video_decoder,
                          interpolation=upf_lib.from_video_decoder(video_decoder),
                          sr_low=load_model(sr_l / "video", "sr_low")[0], sr_high=sr_h())
    fast = dict(steps=2, prior_steps=2, upf_steps=2, sr_steps=2, progress=False)
    out = pipe.text_to_video("a red circle", seed=0, **fast)
    frames = (ci.world.frames - 1) * ci.interpolation.frame_skip + 1
    assert list(out.stages) == ["D^t", "upF", "SR_l^t", "SR_h"] and set(out.seconds) == {"P", *out.stages}
    assert out.stages["SR_l^t"].shape == (1, 3, frames, ci.sr_low.size_out, ci.sr_low.size_out)
    assert out.video.shape == (3, frames, ci.sr_high.size_out, ci.sr_high.size_out)
    assert torch.equal(out.videos, pipe.text_to_video("a red circle", seed=0, **fast).videos)
    assert list(pipe.text_to_video("a red circle", stop_after="SR_l^t", **fast).stages)[-1] == "SR_l^t"
    pipe.sr_low = None
    assert list(pipe.text_to_video("a red circle", **fast).stages) == ["D^t", "upF"]  # the unbroken chain
    with pytest.raises(CheckpointError, match="mav-lite train sr_low --preset ci"):
        pipe.text_to_video("a red circle", stop_after="SR_h", **fast)
