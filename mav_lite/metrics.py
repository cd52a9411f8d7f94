"""Metrics on generated images and videos (notebook 02 starts it; notebook 13 gathers them all).

`background_fraction`: the share of pixels that belong to a clean background. Shapes World scenes
are mostly background, a flat or vertically graded colour, so in real data nearly every row is
dominated by one colour; a diffusion model that has not learned to finish its job leaves grainy
noise there. A pixel counts as background when it is within `tolerance` of its row's median colour.
"""

from __future__ import annotations

import torch


def background_fraction(images: torch.Tensor, tolerance: float = 0.08) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B,) share of pixels within `tolerance` of their row's median colour."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
    row_median = images.median(dim=3, keepdim=True).values  # (B, 3, H, 1): the background of each row
    close = (images - row_median).abs().amax(dim=1) <= tolerance  # (B, H, W): every channel close
    return close.float().mean(dim=(1, 2))
