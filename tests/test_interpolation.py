"""upF: starts as D^t, masks of every kind, windows that keep the given frames, and the image modes."""

import numpy as np
import pytest
import torch
from PIL import Image

from mav_lite import interpolation as upf_lib
from mav_lite.checkpoints import REFERENCE_DIR, CheckpointError, load_model
from mav_lite.clip import frozen_clip
from mav_lite.config import get_preset
from mav_lite.pseudo3d import VideoUNet
from mav_lite.train import train
from mav_lite.unet import UNet

QUIET = dict(progress=False, save_every=1000, sample_every=1000, val_every=1000, precision="no")
FAST = dict(steps=2, progress=False)


def small_video_unet() -> VideoUNet:
    torch.manual_seed(0)
    net = VideoUNet(channels=16, channel_mults=(1, 2), attention_levels=(1,), res_blocks=1, cond_dim=64, cond_map=8)
    with torch.no_grad():
        for p in net.parameters():  # a trained-looking D^t: temporal layers and zero-init outputs moved
            p.add_(0.02 * torch.randn_like(p))
    return net.eval()


def test_upf_starts_exactly_as_the_video_decoder_whatever_the_given_frames():
    dt = small_video_unet()
    upf = upf_lib.from_video_decoder(dt).eval()
    assert upf.config["extra_channels"] == 4 and upf.stem.in_channels == 7
    x, t, y_e, fps = torch.randn(2, 3, 5, 16, 16), torch.tensor([10, 900]), torch.randn(2, 64), torch.tensor([4., 24.])
    expected = dt(x, t, cond=y_e, fps=fps)
    for known in (torch.ones(2, 5, dtype=torch.bool), upf_lib.random_masks(2, 5, torch.Generator().manual_seed(1))):
        concat = upf_lib.masked_input(torch.rand(2, 3, 5, 16, 16) * 2 - 1, known)
        assert (upf(x, t, cond=y_e, fps=fps, concat=concat) - expected).abs().max() <= 1e-6
    with pytest.raises(ValueError, match="already takes extra input channels"):
        upf_lib.from_video_decoder(upf)


def test_clean_given_frames_enter_clean_and_denoise_to_themselves_exactly():
    from mav_lite import diffusion
    from mav_lite.decoder import SCHEDULE
    upf = upf_lib.from_video_decoder(small_video_unet()).eval()
    x_t, t, y_e, fps = torch.randn(2, 3, 5, 16, 16), torch.tensor([10, 900]), torch.randn(2, 64), torch.tensor([4., 24.])
    given, known = torch.rand(2, 3, 5, 16, 16) * 2 - 1, torch.tensor([[1, 0, 0, 0, 1], [0, 0, 1, 0, 0]]).bool()
    with torch.no_grad():
        concat = upf_lib.masked_input(given, known)
        out = upf_lib.given_frames_model(upf, clean_given=True)(x_t, t, cond=y_e, fps=fps, concat=concat)
        x0, _ = diffusion.to_x0_eps(out, x_t, t, diffusion.schedule_for(SCHEDULE, 1000), "v")
        assert (x0 - given)[:, :, known[0]][0].abs().max() <= 1e-4  # given frames: denoised to themselves
        clean_input = torch.where(known[:, None, :, None, None], given, x_t)
        hidden = upf(clean_input, t, cond=y_e, fps=fps, concat=concat)
        assert torch.equal(out[:, :, ~known[1]][1], hidden[:, :, ~known[1]][1].float())  # the others: upF's own
        assert upf_lib.given_frames_model(upf, clean_given=False) is upf  # the paper's upF, as it is
        filled = upf_lib.sample(upf, y_e, given, known, fps=8, guidance=2.0, steps=3, seed=0, clean_given=True)
    assert (filled - given)[0][:, known[0]].abs().max() <= 1e-3  # the sampler ends on the given frames


@pytest.mark.parametrize("kind, expected", [
    ("interpolate", [1, 0, 0, 0, 1, 0, 0, 0, 1]),
    ("forward", [1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("backward", [0, 0, 0, 0, 0, 0, 0, 0, 1]),
    ("ends", [1, 0, 0, 0, 0, 0, 0, 0, 1]),
    ("none", [0] * 9),
])
def test_each_mask_kind_gives_the_frames_it_names(kind, expected):
    assert upf_lib.frame_mask(kind, 9, skip=4).int().tolist() == expected


def test_interpolation_masks_follow_skip_and_offset_and_keyframes_give_at_least_one():
    assert upf_lib.frame_mask("interpolate", 8, skip=3, offset=2).int().tolist() == [0, 0, 1, 0, 0, 1, 0, 0]
    for seed in range(20):
        mask = upf_lib.frame_mask("keyframes", 6, generator=torch.Generator().manual_seed(seed))
        assert 1 <= mask.sum() <= 6
    with pytest.raises(ValueError, match="unknown mask kind 'middle'"):
        upf_lib.frame_mask("middle", 5)
    with pytest.raises(ValueError, match="0 <= offset < skip"):
        upf_lib.frame_mask("interpolate", 5, skip=2, offset=2)


def test_random_masks_are_reproducible_and_mix_the_kinds():
    a = upf_lib.random_masks(200, 9, torch.Generator().manual_seed(0))
    assert torch.equal(a, upf_lib.random_masks(200, 9, torch.Generator().manual_seed(0)))
    counts = a.sum(1)
    assert (counts == 0).any() and (counts == 1).any() and (counts >= 3).any()  # none, one end, interpolation


def test_upf_is_conditioned_on_the_given_frame_nearest_the_middle():
    known = torch.tensor([[1, 0, 0, 0, 0, 0, 0, 0, 0],    # forward: the first frame
                          [1, 0, 0, 0, 0, 0, 0, 0, 1],    # ends: a tie, the earlier one
                          [1, 0, 0, 1, 0, 0, 1, 0, 0],    # skip 3: frame 3 is nearest to 4
                          [0, 0, 0, 0, 0, 0, 0, 0, 0],    # none: the middle frame, as D^t
                          [0, 0, 0, 0, 0, 0, 0, 0, 1]]).bool()
    assert upf_lib.conditioning_index(known).tolist() == [0, 0, 3, 4, 8]
    videos = torch.rand(5, 3, 9, 16, 16) * 2 - 1
    clip = frozen_clip()
    upf = UNet(8, (1,), (), cond_dim=clip.config["embed_dim"])
    y_e = upf_lib.conditioning_embedding(clip, videos, known, upf)
    assert torch.allclose(y_e[2], clip.encode_image(videos[2:3, :, 3])[0], atol=1e-6)
    map_upf = UNet(8, (1,), (), cond_dim=clip.map_dim, cond_map=16, cond_grid=4)  # conditioned on C_y's map
    maps = upf_lib.conditioning_embedding(clip, videos, known, map_upf)
    assert torch.allclose(maps[2], clip.encode_image(videos[2:3, :, 3], as_map=True)[0], atol=1e-5)


def test_masked_input_zeroes_unknown_frames_and_adds_the_mask():
    videos = torch.rand(1, 3, 4, 8, 8) + 0.5
    videos[:, :, 1] = float("nan")  # whatever an unknown frame holds, nothing of it leaks
    concat = upf_lib.masked_input(videos, torch.tensor([[True, False, False, True]]))
    assert concat.shape == (1, 4, 4, 8, 8)
    assert torch.equal(concat[:, :3, 0], videos[:, :, 0]) and concat[:, :3, 1:3].abs().max() == 0
    assert concat[:, 3].flatten(1).unique(dim=1).shape[1] == 2 and concat[0, 3, :, 0, 0].tolist() == [1, 0, 0, 1]
    with pytest.raises(ValueError, match="mask of shape \\(1, 4\\)"):
        upf_lib.masked_input(videos, torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize("frames, skip, window", [(29, 4, 9), (13, 6, 9), (3, 2, 5), (9, 2, 5), (61, 5, 11)])
def test_windows_cover_the_clip_and_begin_and_end_on_given_frames(frames, skip, window):
    starts, length = upf_lib.windows(frames, skip, window)
    covered = set()
    for s in starts:
        assert s % skip == 0 and (s + length - 1) % skip == 0 and s + length <= frames
        covered |= set(range(s, s + length))
    assert covered == set(range(frames)) and length <= max(window, skip + 1)


def test_upsampling_keeps_every_base_frame_and_gives_the_asked_count():
    upf, clip = upf_lib.from_video_decoder(small_video_unet()).eval(), frozen_clip()
    base = torch.rand(2, 3, 4, 16, 16) * 2 - 1
    for skip in (2, 3, 4):
        out = upf_lib.upsample_frames(upf, clip, base, skip, fps=8, window=5, seed=0, **FAST)
        assert out.shape == (2, 3, 3 * skip + 1, 16, 16)
        assert torch.equal(out[:, :, ::skip], base)
        assert not torch.equal(out[:, :, 1], torch.zeros_like(out[:, :, 1]))  # the gaps are filled
    raw = upf_lib.upsample_frames(upf, clip, base, 3, fps=8, window=5, seed=0, keep_given=False, **FAST)
    again = upf_lib.upsample_frames(upf, clip, base, 3, fps=8, window=5, seed=0, **FAST)
    assert torch.equal(again, upf_lib.upsample_frames(upf, clip, base, 3, fps=8, window=5, seed=0, **FAST))
    assert torch.equal(raw[:, :, 1:3], again[:, :, 1:3]) and not torch.equal(raw[:, :, ::3], base)
    with pytest.raises(ValueError, match="at least 2 frames"):
        upf_lib.upsample_frames(upf, clip, base[:, :, :1], 2, fps=8, window=5)
    with pytest.raises(ValueError, match="base clips \\(B, 3, T, H, W\\)"):
        upf_lib.upsample_frames(upf, clip, base[0], 2, fps=8, window=5)


def test_linear_blend_keeps_the_given_frames_and_mixes_the_two_around_each_other():
    base = torch.rand(2, 3, 3, 8, 8) * 2 - 1
    blend = upf_lib.linear_blend(base, 4)
    assert blend.shape == (2, 3, 9, 8, 8) and torch.equal(blend[:, :, ::4], base)
    assert torch.allclose(blend[:, :, 2], (base[:, :, 0] + base[:, :, 1]) / 2)
    assert torch.allclose(blend[:, :, 7], 0.25 * base[:, :, 1] + 0.75 * base[:, :, 2])


def test_upsampling_from_the_blend_redraws_it_as_little_as_asked():
    upf, clip = upf_lib.from_video_decoder(small_video_unet()).eval(), frozen_clip()
    base = torch.rand(2, 3, 4, 16, 16) * 2 - 1
    blend = upf_lib.linear_blend(base, 3)
    change = {start: (upf_lib.upsample_frames(upf, clip, base, 3, fps=8, window=5, seed=0, blend_start=start,
                                              **FAST) - blend).abs().amax().item() for start in (1 / 999, 0.3, 1.0)}
    assert change[1 / 999] < 0.05 < min(change[0.3], change[1.0])  # the blend itself; redrawn from higher up
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="blend_start .* in \\(0, 1\\]"):
            upf_lib.upsample_frames(upf, clip, base, 3, fps=8, window=5, blend_start=bad)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A ci pipeline: P, D, D^t and upF, each trained a few steps."""
    from mav_lite import MakeAVideoLite

    root = tmp_path_factory.mktemp("chain")
    train("prior", "ci", root / "prior", steps=2, lr=1e-3, warmup=1, **QUIET)
    train("decoder", "ci", root / "decoder", steps=2, lr=1e-3, warmup=1, **QUIET)
    train("video_decoder", "ci", root / "dt", steps=2, lr=1e-3, warmup=1, options={"decoder": str(root / "decoder")},
          **QUIET)
    return root, MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", root / "prior", root / "decoder",
                                             video_decoder=root / "dt")


def test_upf_trains_from_d_t_and_its_loss_falls(chain, tmp_path):
    root, _ = chain
    # min-SNR weights here (upF's default is the plain v-loss): in 50 steps a ci model only learns
    # the low-noise steps, and the plain loss is dominated by the high-noise ones (it fell 5% here)
    run = train("interpolation", "ci", tmp_path / "upf", steps=50, lr=3e-3, warmup=5, batch_size=8,
                options={"video_decoder": str(root / "dt"), "min_snr_gamma": 5.0}, **(QUIET | {"val_every": 5}))
    val = run.history["val_loss"]
    assert val[-1] < 0.8 * val[0] and val[-1] == min(val), val
    upf, card = load_model(tmp_path / "upf", "interpolation")
    assert upf.config["extra_channels"] == 4 and card["identity"]["options"]["video_decoder"] == str(root / "dt")
    with pytest.raises(ValueError, match="mav-lite train video_decoder --preset ci"):
        upf_lib.build(get_preset("ci"), upf_lib.OPTIONS)  # the reference D^t belongs to the cpu preset


@pytest.fixture(scope="module")
def pipe(chain):
    root, without_upf = chain
    train("interpolation", "ci", root / "upf", steps=2, lr=1e-3, warmup=1, options={"video_decoder": str(root / "dt")},
          **QUIET)
    from mav_lite import MakeAVideoLite

    return MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", root / "prior", root / "decoder",
                                       video_decoder=root / "dt", interpolation=root / "upf"), without_upf


def test_text_to_video_raises_the_frame_rate_with_upf(pipe):
    pipe, without_upf = pipe
    fast = dict(steps=2, prior_steps=2, progress=False)
    out = pipe.text_to_video(["a red circle", "a blue star"], seed=0, fps=4, **fast)
    skip = pipe.preset.interpolation.frame_skip
    assert out.videos.shape == (2, 3, 3 * skip + 1, 16, 16) and out.fps == 4 * skip
    assert set(out.stages) == {"D^t", "upF"} and torch.equal(out.stages["upF"][:, :, ::skip], out.stages["D^t"])
    assert set(out.seconds) == {"P", "D^t", "upF"}
    assert torch.equal(out.videos, pipe.text_to_video(["a red circle", "a blue star"], seed=0, fps=4, **fast).videos)
    base = pipe.text_to_video("a red circle", stop_after="D^t", **fast)
    assert set(base.stages) == {"D^t"} and base.video.shape[1] == 4
    with pytest.raises(ValueError, match="unknown stage 'SR'"):
        pipe.text_to_video("a red circle", stop_after="SR", **fast)
    with pytest.raises(CheckpointError, match="mav-lite train interpolation"):
        without_upf.text_to_video("a red circle", stop_after="upF", **fast)
    with pytest.raises(CheckpointError, match="mav-lite train interpolation"):
        without_upf.image_to_video(torch.zeros(3, 16, 16), **FAST)


def test_image_to_video_starts_with_the_image_of_any_kind(pipe):
    pipe, _ = pipe
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 255))
    with pytest.warns(UserWarning, match="mode RGBA -> RGB"):
        out = pipe.image_to_video(rgba, seed=0, **FAST)
    window = pipe.preset.interpolation.window
    assert out.video.shape == (3, window, 16, 16) and list(out.stages) == ["upF"]
    assert out.video[0, 0].min() > 0.9 and out.video[1:, 0].max() < -0.9  # the first frame is the red image
    assert pipe.image_to_video(np.zeros((16, 16, 3), np.uint8), frames=3, **FAST).video.shape[1] == 3
    for bad in (np.zeros((0, 3)), "not/a/file.png", 3.5):
        with pytest.raises((ValueError, TypeError, FileNotFoundError)):
            pipe.image_to_video(bad, **FAST)
    with pytest.raises(ValueError, match="frames must be between 1 and upF's 32"):
        pipe.image_to_video(torch.zeros(3, 16, 16), frames=40, **FAST)


def test_interpolate_joins_two_images_and_variation_keeps_its_keyframes(pipe):
    pipe, _ = pipe
    first, last = torch.full((3, 16, 16), -1.0), torch.full((3, 16, 16), 1.0)
    clip = pipe.interpolate(first, last, frames=6, **FAST).video
    assert clip.shape == (3, 6, 16, 16) and torch.equal(clip[:, 0], first) and torch.equal(clip[:, -1], last)
    with pytest.raises(ValueError, match="frames must be between 2"):
        pipe.interpolate(first, last, frames=1, **FAST)
    video = torch.rand(3, 5, 16, 16) * 2 - 1
    kept = pipe.variation(video, seed=1, keep_every=2, **FAST).video
    assert kept.shape == video.shape and torch.equal(kept[:, ::2], video[:, ::2])
    free = pipe.variation(video, seed=1, **FAST).video
    assert free.shape == video.shape and not torch.equal(free[:, 0], video[:, 0])
    with pytest.raises(ValueError, match="expected a clip"):
        pipe.variation(torch.zeros(5, 16, 16), **FAST)
    with pytest.raises(ValueError, match="keep_every must be between 2 and the clip's 5 frames"):
        pipe.variation(video, keep_every=1, **FAST)
    more = pipe.upsample_frames(video, skip=3, fps=4, progress=False)
    assert more.video.shape == (3, 13, 16, 16) and more.fps == 12 and torch.equal(more.video[:, ::3], video)


def test_interpolation_report_compares_upf_with_both_baselines(pipe):
    from mav_lite.checkpoints import load_pretrained
    from mav_lite.evaluation import interpolation_report

    pipe, _ = pipe
    from mav_lite.data import ShapesWorld
    from mav_lite.evaluation import EVAL_SEED, interpolation_baselines
    from mav_lite.metrics import clip_frames, psnr

    report = interpolation_report(pipe, load_pretrained("oracle")[0], n=2, skips=(2, 3))
    s = pipe.preset.interpolation
    assert (report["steps"], report["guidance"], report["blend_start"]) == (s.sample_steps, s.guidance, s.blend_start)
    for k in (2, 3):
        row = report[f"skip {k}"]
        assert set(row) == {"upF", "blend", "nearest"} and set(row["upF"]) > set(row["blend"])
        truth = ShapesWorld(size=16, seed=EVAL_SEED).videos(range(2), 2 * k + 1, 24)[0]  # the report's clips
        blend = interpolation_baselines(truth[:, :, ::k], k)["blend"]
        hidden = [f for f in range(2 * k + 1) if f % k]
        expected = psnr(clip_frames(blend[:, :, hidden]), clip_frames(truth[:, :, hidden])).mean().item()
        assert row["blend"]["psnr"] == pytest.approx(expected)
        assert row["upF"]["given_psnr"] > 0


def test_precision_follows_the_hardware_and_can_be_forced(pipe):
    pipe, _ = pipe
    fast = dict(seed=0, steps=2, prior_steps=2, stop_after="D^t", progress=False)
    try:
        pipe.precision = "fp32"
        full = pipe.text_to_video("a red circle", **fast).videos
        pipe.precision = "bf16"
        half = pipe.text_to_video("a red circle", **fast).videos
        assert full.dtype == half.dtype == torch.float32 and not torch.equal(full, half)  # outputs stay fp32
        assert (full - half).abs().mean() < 0.1  # the same clip, drawn at another precision
        assert torch.equal(half, pipe.text_to_video("a red circle", **fast).videos)  # still reproducible
        pipe.precision = "fp16"
        with pytest.raises(ValueError, match="unknown precision 'fp16'; choose one of auto, fp32, bf16"):
            pipe.text_to_image("a red circle", progress=False)
    finally:
        pipe.precision = "auto"


def test_compile_needs_a_gpu(chain):
    from mav_lite import MakeAVideoLite

    root, _ = chain
    with pytest.raises(ValueError, match="compile=True needs a CUDA GPU .*, not cpu"):
        MakeAVideoLite.from_folders(REFERENCE_DIR / "clip", root / "prior", root / "decoder", device="cpu",
                                    compile=True)
