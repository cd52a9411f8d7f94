"""The apps of notebooks 11 and 12, driven as a user drives them: set the controls, press Generate."""

import datetime
import html
import io
import re

import pytest
import torch
from PIL import Image

from mav_lite import MakeAVideoLite
from mav_lite.images import as_image
from mav_lite.widgets import image_to_video_app, interpolation_app


@pytest.fixture(scope="module")
def pipe():
    return MakeAVideoLite.from_pretrained()  # the reference chain: upF at 32², SR_l^t to 64², SR_h to 128²


def quick(app, last="upF", frames=3):
    app.steps.value, app.sr_steps.value, app.stop_after.value, app.frames.value = 2, 1, last, frames
    return app


def upload(name: str, content: bytes) -> tuple:
    """What FileUpload.value holds after a user picks one file."""
    return ({"name": name, "type": "", "size": len(content), "content": memoryview(content),
             "last_modified": datetime.datetime(2026, 1, 1)},)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_image_to_video_app_plays_a_clip_that_starts_with_the_chosen_picture(pipe):
    app = quick(image_to_video_app(pipe))
    app.picker.index.value = 5
    app.generate_button.click()
    assert app.message.value.startswith("done in"), app.message.value
    video = app.result.video
    assert video.shape == (3, 3, 32, 32) and torch.equal(video[:, 0], app.picker._scene(5))
    assert '<video' in app.video.value and 'src="data:video/mp4;base64,' in app.video.value
    assert 'download="image_to_video.gif"' in app.video.value and not app.generate_button.disabled
    first = app.result.video.clone()
    app.generate_button.click()
    assert torch.equal(app.result.video, first)  # the same seed, the same clip
    app.stop_after.value = "SR_h"
    app.generate_button.click()
    assert app.result.video.shape == (3, 3, 128, 128) and set(app.result.stages) == {"upF", "SR_l^t", "SR_h"}
    assert "3 frames of 128x128" in app.video.value


def test_an_uploaded_picture_of_any_size_and_mode_is_animated(pipe):
    app = quick(image_to_video_app(pipe))
    app.picker.source.value = "upload"
    picture = Image.new("RGBA", (40, 30), (255, 0, 0, 255))
    app.picker.upload.value = upload("red.png", png(picture))
    note = html.unescape(app.picker.note.value)  # the conversion is said under the preview, not as a warning
    assert note == "red.png<br>image converted: mode RGBA -> RGB, centre square 30x30 cropped from 40x30, " \
                   "resized 30x30 -> 32x32"
    assert bytes(app.picker.preview.value[:4]) == b"\x89PNG"
    app.generate_button.click()
    assert app.message.value.startswith("done"), app.message.value
    with pytest.warns(UserWarning, match="resized"):
        assert torch.equal(app.result.video[:, 0], as_image(picture, 32))


@pytest.mark.parametrize("source, value, message", [
    ("upload", None, "no image uploaded yet"),
    ("upload", b"just some text", "notes.txt: the file \\(14 bytes\\): not an image PIL can read"),
    ("prompt", "", "empty prompt"),
    ("prompt", "a purple blorp", "unknown word\\(s\\).*blorp"),
])
def test_bad_input_shows_a_message_and_keeps_the_last_video(pipe, source, value, message):
    app = quick(image_to_video_app(pipe))
    app.generate_button.click()
    before, shown = app.result, app.video.value
    app.picker.source.value = source
    if source == "upload" and value is not None:
        app.picker.upload.value = upload("notes.txt", value)
    elif source == "prompt":
        app.picker.prompt.value = value
    app.generate_button.click()
    assert app.message.value.startswith('<span style="color:#b00">&#9888;'), app.message.value
    assert re.search(message, html.unescape(app.message.value)) and "Traceback" not in app.message.value
    assert app.result is before and app.video.value == shown and not app.generate_button.disabled


def test_a_prompt_is_drawn_by_p_and_d_then_animated(pipe):
    app = quick(image_to_video_app(pipe))
    app.picker.source.value = "prompt"
    app.picker.prompt.value = "a big red circle"
    app.generate_button.click()
    assert app.message.value.startswith("done"), app.message.value
    drawn = pipe.text_to_image("a big red circle", seed=0, progress=False)[0]
    assert torch.equal(app.result.video[:, 0], drawn) and "drawn from the prompt" in app.picker.note.value


def test_interpolation_app_joins_two_pictures_and_varies_a_clip(pipe):
    app = quick(interpolation_app(pipe), frames=5)
    app.first.index.value, app.last.index.value = 2, 3
    app.generate_button.click()
    assert app.message.value.startswith("done"), app.message.value
    video = app.result.video
    assert video.shape == (3, 5, 32, 32)
    assert torch.equal(video[:, 0], app.first._scene(2)) and torch.equal(video[:, -1], app.last._scene(3))
    app.mode.value = app.MODES[1]
    assert app.pair.layout.display == "none" and app.frames.disabled and "<img" in app.clip_preview.value
    app.clip_index.value, app.keep_every.value = 4, 2
    app.generate_button.click()
    source = app.clip()
    assert app.result.video.shape == source.shape and torch.equal(app.result.video[:, ::2], source[:, ::2])
    app.keep_every.value = 0
    app.generate_button.click()
    assert not torch.equal(app.result.video[:, 0], source[:, 0])  # nothing kept: all new frames
