import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from mav_lite.data import ShapesWorld
from mav_lite.viz import enlarge, image_grid, save_video, to_frames, to_image, video_grid


@pytest.fixture(scope="module")
def clip():
    return ShapesWorld(size=15, seed=0).video(0, frames=5, fps=8)[0]  # odd size on purpose


def test_mp4_is_h264_with_even_sides(tmp_path, clip):
    path = save_video(clip, tmp_path / "clip.mp4", fps=8, height=45)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = list(reader)
    w, h = meta["size"]
    assert meta["codec"] == "h264" and w % 2 == 0 and h % 2 == 0 and w >= 45
    assert len(frames) == 5


def test_gif_keeps_frames_and_colours(tmp_path, clip):
    path = save_video(clip, tmp_path / "clip.gif", fps=8, height=30)
    gif = Image.open(path)
    assert gif.n_frames == 5 and gif.size == (30, 30)
    first = np.asarray(gif.convert("RGB"), np.float32) / 255
    expected = enlarge(to_frames(clip), 30)[0]
    assert np.abs(first - expected).mean() < 0.05  # GIF's palette is lossy, but close


def test_bad_inputs_raise(tmp_path, clip):
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        save_video(clip, tmp_path / "clip.avi")
    with pytest.raises(ValueError, match=r"\(3, T, H, W\)"):
        to_frames(clip[0])
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_image(clip)
    with pytest.raises(ValueError, match="do not fill rows"):
        video_grid([clip] * 3, ncols=2)


def test_grids_place_each_item(clip):
    grid = video_grid([clip, -clip], ncols=2)
    assert grid.shape == (3, 5, 15, 30)
    assert torch.equal(grid[..., 15:], -clip)
    images = torch.stack([clip[:, 0], clip[:, 1], clip[:, 2]])
    picture = image_grid(images, ncols=2)
    assert picture.shape == (2 * 16 - 1, 2 * 16 - 1, 3)
    assert np.allclose(picture[16:, :15], to_image(images[2]))
