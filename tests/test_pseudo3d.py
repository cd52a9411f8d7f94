"""Factorized space-time layers: identity at inflation, time really mixed after training, D -> D^t exact."""

import pytest
import torch

from mav_lite.pseudo3d import Attn_P3D, Conv_P3D, VideoUNet, inflate, temporal_parameter_names
from mav_lite.unet import Conv2d, SpatialAttention, UNet


def randomized(module: torch.nn.Module, skip: str = "temporal") -> torch.nn.Module:
    """Random weights everywhere except the new temporal layers (zero-initialized layers would hide differences)."""
    torch.manual_seed(0)
    for name, p in module.named_parameters():
        if skip not in name:
            torch.nn.init.normal_(p, std=0.2)
    return module.eval()


def per_frame_loop(fn, video: torch.Tensor) -> torch.Tensor:
    """The naive way: one frame at a time, stacked along time."""
    return torch.stack([fn(video[:, :, f]) for f in range(video.shape[2])], dim=2)


def test_conv_p3d_starts_as_the_2d_conv_on_every_frame():
    conv = randomized(Conv2d(4, 6, 3, padding=1))
    p3d = Conv_P3D.from_conv(conv)
    video = torch.randn(2, 4, 5, 8, 8)
    torch.testing.assert_close(p3d(video), per_frame_loop(conv, video), atol=1e-6, rtol=1e-6)
    image = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(p3d(image), conv(image))  # images: space only


def test_conv_p3d_mixes_neighbouring_frames_once_its_temporal_kernel_moves():
    p3d = Conv_P3D.from_conv(randomized(Conv2d(3, 3, 3, padding=1)))
    with torch.no_grad():
        p3d.temporal.weight.normal_(std=0.3)
    video = torch.zeros(1, 3, 5, 8, 8)
    video[:, :, 2] = torch.randn(3, 8, 8)  # one frame lit, the others black
    reach = (p3d(video) - p3d(torch.zeros_like(video))).abs().amax(dim=(0, 1, 3, 4))  # (T,)
    assert reach[1:4].min() > 1e-3  # kernel 3: the lit frame reaches one frame each way...
    assert reach[0] < 1e-6 and reach[4] < 1e-6  # ...and no further


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last_3d])
def test_conv_p3d_is_the_temporal_conv1d_at_every_pixel(layout):
    """The (k, 1, 1) Conv3d the package runs equals the equation's Conv1d over each pixel's frames."""
    p3d = randomized(Conv_P3D(3, 4, 3, padding=1), skip="none")  # temporal weights random too
    video = torch.randn(2, 3, 6, 5, 7).contiguous(memory_format=layout)
    h = per_frame_loop(lambda f: torch.nn.functional.conv2d(f, p3d.weight, p3d.bias, padding=1), video)
    naive = torch.empty_like(h)
    for y in range(h.shape[3]):
        for x in range(h.shape[4]):
            naive[:, :, :, y, x] = p3d.temporal(h[:, :, :, y, x])
    torch.testing.assert_close(p3d(video), naive, atol=1e-5, rtol=1e-5)


def test_attn_p3d_starts_as_spatial_attention_and_orders_frames():
    attn = randomized(SpatialAttention(8, heads=2))
    p3d = Attn_P3D.from_attention(attn, max_frames=8).eval()
    video = torch.randn(2, 8, 4, 4, 4)
    torch.testing.assert_close(p3d(video), per_frame_loop(attn, video), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.nn.init.normal_(p3d.temporal.out.weight, std=0.2)
    out = p3d(video)
    assert not torch.allclose(out, per_frame_loop(attn, video), atol=1e-3)  # now time is mixed
    # frame positions: the same content in another order is not just the output reordered
    flipped = p3d(video.flip(2)).flip(2)
    assert not torch.allclose(out, flipped, atol=1e-3)


def image_unet() -> UNet:
    return randomized(UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=6, cond_map=4))


@pytest.mark.parametrize("frames", [1, 3, 4])
def test_inflated_unet_equals_the_image_unet_frame_by_frame(frames):
    d = image_unet()
    dt = inflate(d, max_frames=8)
    video, t, cond = torch.randn(2, 3, frames, 16, 16), torch.tensor([10, 900]), torch.randn(2, 6)
    expected = per_frame_loop(lambda f: d(f, t, cond=cond), video)
    for fps in (torch.tensor([1.0, 30.0]), torch.tensor([8.0, 8.0])):
        out = dt(video, t, cond=cond, fps=fps)
        assert out.shape == video.shape
        assert (out - expected).abs().max() <= 1e-5
    image = video[:, :, 0]
    torch.testing.assert_close(dt(image, t, cond=cond), d(image, t, cond=cond))  # images skip time


@pytest.mark.parametrize("cond_mix", [0, 1])
def test_a_decoder_reading_its_map_at_the_input_inflates_exactly_too(cond_mix):
    d = randomized(UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=4 * 16, cond_map=4, cond_grid=4, cond_input=True,
                        cond_film=False, cond_mix=cond_mix))
    dt = inflate(d, max_frames=8)
    video, t, cond = torch.randn(2, 3, 4, 16, 16), torch.tensor([10, 900]), torch.randn(2, 64)
    expected = per_frame_loop(lambda f: d(f, t, cond=cond), video)
    assert (dt(video, t, cond=cond, fps=torch.tensor([4.0, 24.0])) - expected).abs().max() <= 1e-5


def test_inflation_wraps_every_3x3_conv_and_attention_and_only_adds_parameters():
    d = image_unet()
    dt = inflate(d)
    convs = [n for n, m in d.named_modules() if type(m) is Conv2d and m.kernel_size == (3, 3)]
    attns = [n for n, m in d.named_modules() if type(m) is SpatialAttention]
    modules = dict(dt.named_modules())
    assert convs and attns
    assert all(isinstance(modules[n], Conv_P3D) for n in convs)
    assert all(isinstance(modules[n], Attn_P3D) for n in attns)
    image_params = dict(d.named_parameters())
    for name, p in dt.named_parameters():
        if name in image_params:
            assert torch.equal(p, image_params[name])
        else:
            assert name in temporal_parameter_names(dt)
    assert dt.fps_mlp[2].weight.abs().sum() == 0  # fps embedding zero at init


def test_the_same_architecture_from_scratch_rebuilds_from_its_config():
    dt = inflate(image_unet())
    again = VideoUNet(**dt.config)
    assert again.config == dt.config
    assert [(n, p.shape) for n, p in again.named_parameters()] == [(n, p.shape) for n, p in dt.named_parameters()]


def test_fps_moves_the_output_once_its_embedding_is_trained():
    dt = inflate(image_unet())
    with torch.no_grad():
        dt.fps_mlp[2].weight.normal_(std=0.2)
    video, t = torch.randn(1, 3, 3, 16, 16), torch.tensor([500])
    a = dt(video, t, cond=torch.zeros(1, 6), fps=torch.tensor([4.0]))
    b = dt(video, t, cond=torch.zeros(1, 6), fps=torch.tensor([24.0]))
    assert (a - b).abs().max() > 1e-3


def test_bad_video_inputs_raise_clear_errors():
    dt = inflate(image_unet(), max_frames=4)
    t = torch.tensor([1])
    with pytest.raises(ValueError, match="1 to 4 frames"):
        dt(torch.randn(1, 3, 5, 16, 16), t, fps=torch.tensor([8.0]))
    with pytest.raises(ValueError, match="1 to 4 frames"):
        dt(torch.randn(1, 3, 0, 16, 16), t, fps=torch.tensor([8.0]))
    with pytest.raises(ValueError, match="needs its fps"):
        dt(torch.randn(1, 3, 2, 16, 16), t)
    with pytest.raises(ValueError, match="expected a video"):
        dt(torch.randn(3, 16, 16), t)
    with pytest.raises(ValueError, match="fps must be positive, one per sample"):
        dt(torch.randn(1, 3, 2, 16, 16), t, fps=torch.tensor([0.0]))
    with pytest.raises(ValueError, match="one per sample"):
        dt(torch.randn(2, 3, 2, 16, 16), torch.tensor([1, 2]), fps=8.0)
    with pytest.raises(ValueError, match="images have no fps"):
        dt(torch.randn(1, 3, 16, 16), t, fps=torch.tensor([8.0]))
    with pytest.raises(ValueError, match="temporal kernel must be odd"):
        Conv_P3D(3, 3, 3, padding=1, temporal_kernel=2)
    with pytest.raises(ValueError, match="already a video U-Net"):
        inflate(dt)
    with pytest.raises(ValueError, match="no fps conditioning"):
        image_unet()(torch.randn(1, 3, 16, 16), t, fps=torch.tensor([8.0]))
