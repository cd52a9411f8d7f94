"""ImageFolder and VideoFolder: a user's own files load in the course's conventions, and bad files are named."""

import io
import json
import time

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from mav_lite.data.folders import DataError, ImageFolder, VideoFolder


def save_image(folder, name, caption="a picture", mode="RGB", size=(40, 30), color="red"):
    Image.new(mode, size, color).save(folder / name)
    if caption is not None:
        (folder / name).with_suffix(".txt").write_text(caption)


def save_video(path, frames=10, fps=12, size=(64, 48), rgb=(255, 0, 0)):
    """An mp4 of `frames` solid-colour frames (imageio-ffmpeg, the same ffmpeg the loader reads with)."""
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, macro_block_size=1)
    writer.send(None)  # start ffmpeg
    for _ in range(frames):
        writer.send(np.full((size[1], size[0], 3), rgb, np.uint8).tobytes())
    writer.close()


def random_bytes(fmt):
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # noise does not compress
    Image.fromarray(noise).save(buffer, fmt)
    return buffer.getvalue()


# ---- images ----------------------------------------------------------------------------------------------------


def test_sidecar_captions_load_sorted_with_shape_and_range(tmp_path):
    save_image(tmp_path, "b.jpg", "a blue thing", color="blue")
    save_image(tmp_path, "a.png", "  a red thing\n", color="red")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x01junk")
    (tmp_path / "notes.md").write_text("not data")
    ds = ImageFolder(tmp_path, size=16)
    assert [p.name for p in ds.files] == ["a.png", "b.jpg"] and len(ds) == 2
    image, caption = ds[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert caption == "a red thing"
    assert torch.allclose(image[:, 8, 8], torch.tensor([1.0, -1.0, -1.0]), atol=0.02)  # red in [-1, 1]
    blue, caption = ds[1]
    assert caption == "a blue thing" and blue.min() >= -1 and blue.max() <= 1
    assert blue[2].mean() > 0.9 and blue[0].mean() < -0.9


def test_captions_jsonl_and_sidecar_wins(tmp_path):
    save_image(tmp_path, "cat.png", caption=None)
    save_image(tmp_path, "dog.png", caption="from the sidecar")
    lines = [{"file": "cat.png", "caption": "a cat"}, {"file": "dog.png", "caption": "from the jsonl"}]
    (tmp_path / "captions.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n\n")
    ds = ImageFolder(tmp_path, size=8)
    assert ds.captions == ["a cat", "from the sidecar"]
    assert ds[0][1] == "a cat"


def test_center_crop_keeps_the_middle_of_a_wide_image(tmp_path):
    image = Image.new("RGB", (60, 20), "red")
    image.paste((0, 0, 255), (20, 0, 40, 20))  # the central 20x20 square is blue
    image.save(tmp_path / "wide.png")
    (tmp_path / "wide.txt").write_text("a wide image")
    x, _ = ImageFolder(tmp_path, size=10)[0]
    assert torch.allclose(x[:, :, 2:8], torch.tensor([-1.0, -1.0, 1.0])[:, None, None], atol=0.02)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (20, 20), "red")
    image.paste((0, 0, 255), (10, 0, 20, 20))  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 3  # Orientation: rotate 180 to display
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    (tmp_path / "phone.txt").write_text("a photo from a phone")
    x, _ = ImageFolder(tmp_path, size=10)[0]
    assert x[2, :, :4].mean() > 0.9 and x[0, :, -4:].mean() > 0.9  # displayed: blue left, red right


@pytest.mark.parametrize("mode, fmt, color, rgb", [
    ("L", "png", 0, (-1, -1, -1)),
    ("RGBA", "png", (0, 0, 0, 0), (1, 1, 1)),  # fully transparent -> the white backdrop
    ("LA", "png", (0, 255), (-1, -1, -1)),  # opaque black stays black
    ("P", "png", 0, None),
    ("CMYK", "jpg", (0, 0, 0, 0), (1, 1, 1)),  # no ink is white
    ("CMYK", "tiff", (255, 0, 0, 0), (-1, 1, 1)),  # cyan ink
    ("I;16", "png", 128 * 257, (0, 0, 0)),  # 16-bit mid-grey is scaled to 128, not clipped to 255
])
def test_any_mode_gives_rgb(tmp_path, mode, fmt, color, rgb):
    if mode == "P":
        image = Image.new("P", (20, 20), 0)
        image.putpalette([0, 255, 0] * 256)  # every index is green
        rgb = (-1, 1, -1)
    else:
        image = Image.new(mode, (20, 20), color)
    image.save(tmp_path / f"x.{fmt}")
    (tmp_path / "x.txt").write_text("a flat colour")
    x, _ = ImageFolder(tmp_path, size=12)[0]
    assert x.shape == (3, 12, 12) and x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(1, 2)), torch.tensor(rgb, dtype=torch.float32), atol=0.03)


def test_large_photo_loads(tmp_path):
    image = Image.new("RGB", (4000, 3000), "red")
    image.paste((0, 255, 0), (500, 0, 3500, 3000))  # the central square is green, the side bands red
    image.save(tmp_path / "photo.jpg", quality=90)
    (tmp_path / "photo.txt").write_text("a big photo")
    start = time.perf_counter()
    x, _ = ImageFolder(tmp_path, size=32)[0]
    print(f"4000x3000 JPEG: open, validate and load in {time.perf_counter() - start:.2f} s")
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x[:, 2:-2, 2:-2].mean(dim=(1, 2)), torch.tensor([-1.0, 1.0, -1.0]), atol=0.05)


def test_tiny_image_errors_naming_the_file_and_the_minimum(tmp_path):
    save_image(tmp_path, "good.png")
    save_image(tmp_path, "tiny.png", size=(1, 1))
    with pytest.raises(DataError, match=r"tiny\.png.*1x1.*8x8"):
        ImageFolder(tmp_path)


def test_text_file_named_png_errors_naming_it(tmp_path):
    (tmp_path / "fake.png").write_text("I am not a picture")
    (tmp_path / "fake.txt").write_text("a caption")
    with pytest.raises(DataError, match=r"fake\.png.*not a readable image"):
        ImageFolder(tmp_path)


@pytest.mark.parametrize("name, fmt", [("cut.png", "PNG"), ("cut.jpg", "JPEG")])
def test_truncated_file_errors(tmp_path, name, fmt):
    data = random_bytes(fmt)
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    (tmp_path / name).with_suffix(".txt").write_text("a caption")
    with pytest.raises(DataError, match=name.replace(".", r"\.")) as error:
        ImageFolder(tmp_path)
    assert "truncated" in str(error.value).lower()


def test_missing_and_empty_captions_error(tmp_path):
    save_image(tmp_path, "lonely.png", caption=None)
    with pytest.raises(DataError, match=r"lonely\.png: has no caption.*lonely\.txt.*captions\.jsonl"):
        ImageFolder(tmp_path)
    (tmp_path / "lonely.txt").write_text("  \n")
    with pytest.raises(DataError, match=r"lonely\.png.*empty"):
        ImageFolder(tmp_path)


def test_malformed_jsonl_line_errors_with_its_number(tmp_path):
    save_image(tmp_path, "cat.png", caption=None)
    (tmp_path / "captions.jsonl").write_text('{"file": "cat.png", "caption": "a cat"}\n{"file": "dog.png"\n')
    with pytest.raises(DataError, match=r"captions\.jsonl, line 2"):
        ImageFolder(tmp_path)


def test_skip_warns_for_each_bad_file_and_keeps_the_good_ones(tmp_path):
    save_image(tmp_path, "good.png", "a good one")
    save_image(tmp_path, "tiny.png", size=(1, 1))
    save_image(tmp_path, "nocaption.png", caption=None)
    (tmp_path / "fake.jpg").write_text("text")
    (tmp_path / "captions.jsonl").write_text("not json\n")
    with pytest.warns(UserWarning) as caught:
        ds = ImageFolder(tmp_path, size=8, on_error="skip")
    messages = " | ".join(str(w.message) for w in caught)
    for name in ("tiny.png", "nocaption.png", "fake.jpg", "captions.jsonl, line 1"):
        assert name in messages
    assert [p.name for p in ds.files] == ["good.png"] and ds.captions == ["a good one"]
    assert ds[0][0].shape == (3, 8, 8)


def test_all_skipped_is_an_error(tmp_path):
    save_image(tmp_path, "tiny.png", size=(2, 2))
    with pytest.warns(UserWarning, match=r"tiny\.png"), pytest.raises(DataError, match="every file was skipped"):
        ImageFolder(tmp_path, on_error="skip")


def test_empty_or_missing_folder_errors(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no such files"):
        ImageFolder(tmp_path)
    with pytest.raises(DataError, match=r"nowhere.*does not exist"):
        ImageFolder(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"readme\.txt.*is not a folder"):
        ImageFolder(tmp_path / "readme.txt")


def test_bad_on_error_lists_the_valid_values(tmp_path):
    with pytest.raises(ValueError, match=r"'raise', 'skip'.*'ignore'"):
        ImageFolder(tmp_path, on_error="ignore")


def test_decompression_bomb_is_a_clear_error(tmp_path, monkeypatch):
    save_image(tmp_path, "warned.png", size=(40, 40))  # 1600 pixels: past the limit -> PIL warns
    save_image(tmp_path, "refused.png", size=(100, 100))  # past twice the limit -> PIL refuses
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for name in ("refused.png", "warned.png"):
        with pytest.raises(DataError, match=name.replace(".", r"\.") + r".*MAX_IMAGE_PIXELS"):
            ImageFolder(tmp_path)
        (tmp_path / name).unlink()


# ---- videos ----------------------------------------------------------------------------------------------------


def test_video_folder_reads_frames_and_fps(tmp_path):
    save_video(tmp_path / "red.mp4", frames=10, fps=12)
    ds = VideoFolder(tmp_path, size=16, frames=8)
    video, fps = ds[0]
    assert video.shape == (3, 8, 16, 16) and video.dtype == torch.float32
    assert fps == 12.0 and ds.fps == [12.0]
    assert torch.allclose(video.mean(dim=(1, 2, 3)), torch.tensor([1.0, -1.0, -1.0]), atol=0.05)  # red (lossy codec)


def test_gif_frames_come_in_order(tmp_path):
    colors = ["red", "lime", "blue", "white"]
    frames = [Image.new("RGB", (24, 24), c) for c in colors]
    frames[0].save(tmp_path / "cycle.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    video, fps = VideoFolder(tmp_path, size=8, frames=4)[0]
    expected = torch.tensor([[1, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, 1]], dtype=torch.float32)  # (T, 3)
    assert torch.allclose(video.mean(dim=(2, 3)).T, expected, atol=0.05)
    assert fps == 10.0  # 100 ms a frame


def test_too_short_video_errors_or_is_skipped(tmp_path):
    save_video(tmp_path / "long.mp4", frames=10)
    save_video(tmp_path / "short.mp4", frames=3)
    with pytest.raises(DataError, match=r"short\.mp4: has 3 frames, fewer than frames=8"):
        VideoFolder(tmp_path, frames=8)
    with pytest.warns(UserWarning, match=r"short\.mp4"):
        ds = VideoFolder(tmp_path, frames=8, on_error="skip")
    assert [p.name for p in ds.files] == ["long.mp4"]


def test_text_file_named_mp4_errors_naming_it(tmp_path):
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(DataError, match=r"fake\.mp4.*not a readable video"):
        VideoFolder(tmp_path)
