import pytest
import torch

from mav_lite.data import ShapesWorld
from mav_lite.metrics import background_fraction


def test_background_fraction_separates_data_from_noise():
    images, _, _ = ShapesWorld(size=32, seed=0).images(range(64))
    clean = background_fraction(images)
    assert clean.shape == (64,) and clean.mean() > 0.8
    grainy = background_fraction((images + 0.1 * torch.randn_like(images)).clamp(-1, 1))
    assert grainy.mean() < 0.6 * clean.mean()
    assert background_fraction(torch.rand(8, 3, 32, 32) * 2 - 1).mean() < 0.05


def test_background_fraction_rejects_videos():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        background_fraction(torch.zeros(2, 3, 4, 8, 8))


def test_psnr_and_ssim_are_best_on_identical_images_and_fall_with_noise():
    from mav_lite.metrics import psnr, ssim

    images, _, _ = ShapesWorld(size=16, seed=0).images(range(4))
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    slight, heavy = (images + 0.05 * noise).clamp(-1, 1), (images + 0.5 * noise).clamp(-1, 1)
    assert torch.allclose(ssim(images, images), torch.ones(4)) and (psnr(images, images) > 90).all()
    assert (psnr(images, slight) > psnr(images, heavy)).all() and (ssim(images, slight) > ssim(images, heavy)).all()
    # an error only outside the mask does not count
    mask = torch.zeros(4, 16, 16, dtype=torch.bool)
    mask[:, :8] = True
    spoiled = images.clone()
    spoiled[:, :, 8:] = -images[:, :, 8:]
    assert (psnr(spoiled, images, mask) > 90).all() and (psnr(spoiled, images) < 20).all()
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(images, images[:, :, :8])


def test_interpolation_baselines_blend_and_repeat_the_given_neighbours():
    from mav_lite.evaluation import interpolation_baselines

    given = torch.stack([torch.full((3, 4, 4), -1.0), torch.full((3, 4, 4), 1.0)], dim=1)[None]  # (1, 3, 2, 4, 4)
    guesses = interpolation_baselines(given, skip=4)
    blend = guesses["blend"][0, 0, :, 0, 0].tolist()
    assert blend == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert guesses["nearest"][0, 0, :, 0, 0].tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0]


def test_flicker_is_zero_for_the_truth_and_grows_with_per_frame_noise():
    from mav_lite.evaluation import static_mask
    from mav_lite.metrics import flicker

    clips = ShapesWorld(size=32, seed=0).videos(range(4), 5, 8)[0]
    still = static_mask(clips, margin=3)
    assert still.float().mean() > 0.3  # most of a clip stands still
    assert torch.equal(flicker(clips, still), torch.zeros(4))
    noisy = (clips + 0.05 * torch.randn(clips.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    same_noise = (clips + 0.05 * torch.randn(1, 3, 1, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(-1, 1)
    assert (flicker(noisy, still) > 5 * flicker(same_noise, still)).all()
    assert flicker(clips, torch.zeros_like(still)).isnan().all()  # no static pixel, no verdict


def test_edge_sharpness_is_one_for_the_truth_lower_when_blurred_and_ignores_flat_noise():
    import torch.nn.functional as F

    from mav_lite.metrics import edge_sharpness

    truth, _, _ = ShapesWorld(size=64, seed=0).images(range(8), size=64)
    blurred = F.interpolate(F.avg_pool2d(truth, 2), scale_factor=2, mode="bicubic", align_corners=False).clamp(-1, 1)
    assert torch.allclose(edge_sharpness(truth, truth), torch.ones(8))
    assert (edge_sharpness(blurred, truth) < 0.9).all()
    flat_noise = truth + 0.05 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    assert (edge_sharpness(flat_noise, truth) < 1.2).all()
