"""A user's image of any kind becomes the (3, size, size) tensor in [-1, 1]; non-images are refused clearly."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from mav_lite.data import ShapesWorld
from mav_lite.images import as_image


def test_a_package_tensor_of_the_right_size_passes_unchanged():
    image, _, _ = ShapesWorld(size=16, seed=0).image(0)
    assert torch.equal(as_image(image, 16), image)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16", "LA", "1"])
def test_every_pil_mode_becomes_rgb_with_a_note(mode):
    pil = Image.new("RGB", (16, 16), (255, 0, 0)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((16, 16), 40000, dtype=np.uint16))
    with pytest.warns(UserWarning, match=f"mode {re.escape(mode)}.* -> RGB"):
        image = as_image(pil, 16)
    assert image.shape == (3, 16, 16) and image.min() >= -1 and image.max() <= 1


def test_red_stays_red_through_cmyk_and_palette():
    for mode in ("CMYK", "P"):
        with pytest.warns(UserWarning):
            image = as_image(Image.new("RGB", (8, 8), (255, 0, 0)).convert(mode), 8)
        assert image[0].min() > 0.9 and image[1:].max() < -0.9, mode


def test_a_dim_16_bit_grey_stays_dim():
    with pytest.warns(UserWarning, match="mode I;16"):
        image = as_image(Image.fromarray(np.full((8, 8), 1000, dtype=np.uint16)), 8)  # 1000 of 65535
    assert image.max() < -0.9


def test_transparency_is_laid_on_white():
    pil = Image.new("RGBA", (8, 8), (0, 0, 255, 0))  # fully transparent blue
    with pytest.warns(UserWarning, match="mode RGBA"):
        assert as_image(pil, 8).min() == 1.0


def test_a_wide_image_is_centre_cropped_and_resized_with_a_note():
    array = np.zeros((30, 90, 3), dtype=np.uint8)
    array[:, 30:60] = 255  # the centre square is white, the sides black
    with pytest.warns(UserWarning, match="centre square 30x30 cropped from 90x30, resized 30x30 -> 16x16"):
        image = as_image(array, 16)
    assert image.shape == (3, 16, 16) and image.min() > 0.95


@pytest.mark.parametrize("array", [np.full((16, 16), 0.5), np.full((16, 16, 1), 128, np.uint8),
                                   np.full((16, 16, 4), 128, np.uint8), np.ones((16, 16), dtype=bool)])
def test_numpy_greys_and_alpha_are_read(array):
    with pytest.warns(UserWarning, match="mode"):
        image = as_image(array, 16)
    assert image.shape == (3, 16, 16) and torch.allclose(image[0], image[2])


def test_a_file_of_any_format_is_read(tmp_path):
    for suffix in ("png", "jpg", "bmp", "gif"):
        path = tmp_path / f"image.{suffix}"
        Image.new("RGB", (20, 20), (0, 0, 255)).save(path)
        with pytest.warns(UserWarning, match="resized 20x20 -> 16x16"):
            image = as_image(str(path), 16) if suffix == "png" else as_image(path, 16)
        assert image[2].mean() > 0.9 and image[0].mean() < -0.9, suffix
        with pytest.warns(UserWarning, match="resized 20x20 -> 16x16"):
            assert torch.equal(as_image(path.read_bytes(), 16), image)  # an upload: the file's bytes


def test_a_tensor_of_another_size_is_resized():
    with pytest.warns(UserWarning, match="resized 32x32 -> 16x16"):
        assert as_image(torch.zeros(1, 32, 32), 16).shape == (3, 16, 16)


@pytest.mark.parametrize("bad, error, message", [
    (np.zeros((0, 3)), ValueError, "empty"),
    (torch.zeros(3, 0, 5), ValueError, "empty"),
    (np.zeros((8, 8, 5)), ValueError, "must be \\(H, W\\)"),
    (torch.zeros(2, 8, 8), ValueError, "\\(3, H, W\\)"),
    (np.full((8, 8), 3.0), ValueError, "in \\[0, 1\\]"),
    (torch.full((3, 8, 8), 2.0), ValueError, "in \\[-1, 1\\]"),
    (np.full((8, 8), 300), ValueError, "0..255"),
    (np.full((8, 8), 70000, dtype=np.uint32), ValueError, "0..255"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "numbers"),
    (42, TypeError, "expected an image"),
    (["not", "an", "image"], TypeError, "got list"),
    ("no/such/image.png", FileNotFoundError, "no image at"),
])
def test_non_images_get_a_clear_error(bad, error, message):
    with pytest.raises(error, match=message):
        as_image(bad, 16)


def test_files_that_are_not_images_and_folders_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ValueError, match="not an image PIL can read"):
        as_image(text, 16)
    with pytest.raises(ValueError, match="is a folder"):
        as_image(tmp_path, 16)
    with pytest.raises(ValueError, match="the file \\(13 bytes\\): not an image PIL can read"):
        as_image(b"not a picture", 16)  # an upload's bytes
    with pytest.raises(ValueError, match="the image file is empty"):
        as_image(memoryview(b""), 16)
    with pytest.raises(ValueError, match="empty \\(0x5 pixels\\)"):
        as_image(Image.new("RGB", (0, 5)), 16)
    with pytest.raises(ValueError, match="mode LAB is not supported"):
        as_image(Image.new("LAB", (8, 8)), 16)
