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
