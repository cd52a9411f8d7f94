"""The U-Net every diffusion stage builds on: videos pass frame by frame, the condition's two paths."""

from pathlib import Path

import pytest
import torch

from mav_lite.checkpoints import load_into
from mav_lite.unet import UNet


def conditioned(**kw) -> UNet:
    torch.manual_seed(0)
    model = UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=6, cond_map=4, **kw).eval()
    for p in model.parameters():  # zero-initialized output layers would hide every difference below
        torch.nn.init.normal_(p, std=0.2)
    return model


def test_a_video_passes_as_independent_frames():
    model = conditioned()
    video, cond, t = torch.randn(2, 3, 5, 16, 16), torch.randn(2, 6), torch.tensor([10, 900])
    out = model(video, t, cond=cond)
    assert out.shape == video.shape
    for f in range(5):
        torch.testing.assert_close(out[:, :, f], model(video[:, :, f], t, cond=cond), atol=1e-5, rtol=1e-5)


def test_the_condition_is_normalized_so_its_scale_does_not_matter():
    model = conditioned()
    x, t, cond = torch.randn(3, 3, 16, 16), torch.tensor([0, 500, 999]), torch.randn(3, 6)
    torch.testing.assert_close(model(x, t, cond=cond), model(x, t, cond=7 * cond), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(model(x, t, cond=cond), model(x, t, cond=cond.flip(0)), atol=1e-3)


def test_the_condition_map_reaches_the_image_where_it_is_placed():
    model = conditioned()
    x, t, cond = torch.randn(1, 3, 16, 16), torch.tensor([500]), torch.randn(1, 6)
    base = model(x, t, cond=cond)
    with torch.no_grad():  # move the map's bias in one corner cell only: the output changes most there
        bias = model.cond_map.bias.view(-1, 4, 4)
        bias[:, 0, 0] += 3.0
    change = (model(x, t, cond=cond) - base).abs().sum(dim=(0, 1))  # (16, 16)
    assert change[:8, :8].sum() > 2 * change[8:, 8:].sum()


def test_a_grid_condition_reaches_the_bottleneck_cell_by_cell():
    torch.manual_seed(0)
    model = UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=5 * 16, cond_map=8, cond_grid=4).eval()
    cond = torch.randn(1, 5, 4, 4)
    base = model.spatial_condition(model.condition(1, cond.flatten(1), None), torch.zeros(1, 16, 8, 8))
    cond[:, [0, 1], 0, 0] = cond[:, [1, 0], 0, 0]  # swap two features of the top-left cell (same mean and std)
    moved = model.spatial_condition(model.condition(1, cond.flatten(1), None), torch.zeros(1, 16, 8, 8))
    change = (moved - base).abs().sum(dim=(0, 1))  # (8, 8): the 4x4 grid resized to the bottleneck
    assert change[0, 0] > 0.1 and change[3:, :].max() < 1e-6 and change[:, 3:].max() < 1e-6  # bilinear 4 -> 8
    assert model.cond_map.weight.shape == (16, 5)  # one linear layer shared by every cell


def test_a_grid_condition_at_the_input_reaches_only_its_own_cells_pixels():
    torch.manual_seed(0)
    model = UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=5 * 16, cond_map=8, cond_grid=4, cond_input=True,
                 cond_film=False).eval()
    assert not hasattr(model, "cond_proj")  # no FiLM from the condition: it enters through the maps alone
    seen = []  # what the first block reads: the stem's output plus the condition's cells
    model.down[0].blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x, t, cond = torch.randn(1, 3, 16, 16), torch.tensor([500]), torch.randn(1, 5, 4, 4)
    model(x, t, cond=cond.flatten(1))
    cond[:, [0, 1], 0, 0] = cond[:, [1, 0], 0, 0]  # swap two features of the top-left cell (same mean and std)
    model(x, t, cond=cond.flatten(1))
    change = (seen[1] - seen[0]).abs().sum(dim=(0, 1))  # (16, 16): 4x4 pixels per cell
    assert change[:4, :4].min() > 0 and change[4:, :].max() == 0 and change[:, 4:].max() == 0


def test_a_cell_mixer_starts_as_the_identity_then_lets_each_cell_read_the_others():
    grid = dict(channels=8, channel_mults=(1, 2), attention_levels=(1,), res_blocks=1, cond_dim=8 * 16, cond_map=8,
                cond_grid=4, cond_input=True, cond_film=False)
    torch.manual_seed(0)
    plain = UNet(**grid).eval()
    for p in plain.parameters():
        torch.nn.init.normal_(p, std=0.2)
    mixed = UNet(**grid, cond_mix=1).eval()
    load_into(mixed, plain.state_dict(), Path("plain"), new=UNet.STARTS_AS_IDENTITY)  # the mixer keeps its init
    x, t, cond = torch.randn(2, 3, 16, 16), torch.tensor([10, 900]), torch.randn(2, 8 * 16)
    assert torch.equal(mixed(x, t, cond=cond), plain(x, t, cond=cond))
    torch.nn.init.normal_(mixed.cell_mixer.out.weight, std=0.2)  # as training would move it
    cond = torch.randn(1, 8, 4, 4)
    before = mixed.condition(1, cond.flatten(1), None).view(8, 4, 4)
    cond[:, [0, 1], 0, 0] = cond[:, [1, 0], 0, 0]  # swap two features of the top-left cell only
    after = mixed.condition(1, cond.flatten(1), None).view(8, 4, 4)
    assert (after - before)[:, 3, 3].abs().max() > 1e-3  # the far corner cell now reads it too
    with pytest.raises(ValueError, match="cond_mix need a grid"):
        UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=20, cond_map=4, cond_mix=1)


def test_the_map_is_resized_to_other_image_sizes():
    model = conditioned()
    assert model(torch.randn(2, 3, 32, 32), torch.tensor([1, 2]), cond=torch.randn(2, 6)).shape == (2, 3, 32, 32)


def test_dropped_or_missing_conditions_use_the_null_condition():
    model = conditioned()
    x, t, cond = torch.randn(2, 3, 16, 16), torch.tensor([3, 700]), torch.randn(2, 6)
    dropped = model(x, t, cond=cond, drop=torch.tensor([True, False]))
    torch.testing.assert_close(dropped[:1], model(x[:1], t[:1]))
    torch.testing.assert_close(dropped[1:], model(x[1:], t[1:], cond=cond[1:]))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="cond_map needs a condition"):
        UNet(8, (1, 2), (1,), res_blocks=1, cond_map=4)
    with pytest.raises(ValueError, match="cond_grid needs"):
        UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=20, cond_map=4, cond_grid=4)
    with pytest.raises(ValueError, match="cond_input and cond_mix need a grid"):
        UNet(8, (1, 2), (1,), res_blocks=1, cond_dim=20, cond_map=4, cond_input=True)
    with pytest.raises(ValueError, match="attention_levels"):
        UNet(8, (1, 2), (2,), res_blocks=1)
    plain, model = UNet(8, (1, 2), (1,), res_blocks=1), conditioned()
    with pytest.raises(ValueError, match="unconditional"):
        plain(torch.randn(1, 3, 16, 16), torch.tensor([1]), cond=torch.randn(1, 6))
    with pytest.raises(ValueError, match="input channels"):
        model(torch.randn(1, 4, 16, 16), torch.tensor([1]))
    with pytest.raises(ValueError, match="multiples of 2"):
        model(torch.randn(1, 3, 15, 15), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"a video \(B, C, T, H, W\) or images.*got shape \(3, 16, 16\)"):
        model(torch.randn(3, 16, 16), torch.tensor([1]))
