"""The apps of notebooks 11 and 12, as ipywidgets 8: image to video, and two images to a clip or a
video's variations. Each runs MakeAVideoLite's upF mode, then SR_l^t and SR_h.

    from mav_lite.widgets import image_to_video_app, interpolation_app
    image_to_video_app()           # the last line of a cell shows the app (in JupyterLab or Voila)

An app is a VBox: pickers for its inputs (a Shapes World scene, an upload or a prompt drawn by
P -> D), sliders for fps, steps, guidance and frames, a seed, the last stage to run, a Generate
button, a status line, the sampler's progress bars while it runs, then the video playing with
links to download it as MP4 and GIF. Bad input (an upload that is not an image, an empty prompt,
unknown words) shows a message in the status line, never a traceback. Tests drive an app as a user
does: set the controls' values and call `app.generate_button.click()`; `app.result` holds the last
VideoOutput and `app.message.value` the status line.
"""

from __future__ import annotations

import base64
import html
import io
import tempfile
import time
import warnings
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import torch
from PIL import Image

from .config import get_preset
from .data import ShapesWorld
from .images import as_image
from .pipeline import MakeAVideoLite, VideoOutput
from .viz import enlarge, save_video, to_image

PREVIEW = 96  # pixels of an input's preview
VIDEO_HEIGHT = 256  # pixels of the result's height on screen and in the downloads
SIZE_OF = {"upF": "base size", "SR_l^t": "after SR_l^t", "SR_h": "after SR_h"}


def _png(image: torch.Tensor, height: int = PREVIEW) -> bytes:
    """(3, H, W) in [-1, 1] -> PNG bytes, enlarged (nearest) to at least `height` rows."""
    pixels = (enlarge(to_image(image), height) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def video_html(video: torch.Tensor, fps: float, name: str = "clip") -> str:
    """A clip (3, T, H, W) -> HTML: a looping <video> (H.264) and links to download it as MP4 and GIF."""
    data = {}
    with tempfile.TemporaryDirectory() as folder:
        for ext in ("mp4", "gif"):
            path = save_video(video, Path(folder) / f"{name}.{ext}", fps=fps, height=VIDEO_HEIGHT)
            data[ext] = base64.b64encode(path.read_bytes()).decode("ascii")
    t, h = video.shape[1], video.shape[2]
    return (f'<video autoplay loop muted controls playsinline height="{VIDEO_HEIGHT}" '
            f'src="data:video/mp4;base64,{data["mp4"]}"></video><br>'
            f'{t} frames of {h}x{h} at {fps:g} fps · download: '
            f'<a download="{name}.mp4" href="data:video/mp4;base64,{data["mp4"]}">MP4</a> · '
            f'<a download="{name}.gif" href="data:image/gif;base64,{data["gif"]}">GIF</a>')


class ImagePicker(widgets.VBox):
    """One input image: a Shapes World picture chosen by number, an uploaded file, or a prompt that
    P -> D draws (text_to_image) when the app runs. A preview shows the image the app will use."""

    SOURCES = ("Shapes World", "upload", "prompt")

    def __init__(self, title: str, scene, scene_label: str, size: int, index: int = 0):
        self._scene, self._size = scene, size
        self.source = widgets.ToggleButtons(options=self.SOURCES, value="Shapes World")
        self.index = widgets.BoundedIntText(value=index, min=0, max=99_999, description=scene_label,
                                            style={"description_width": "initial"})
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload an image")
        self.prompt = widgets.Text(placeholder="a big red star at the top left", description="prompt")
        self.preview = widgets.Image(format="png", width=PREVIEW, height=PREVIEW)
        self.note = widgets.HTML()
        for control in (self.source, self.index, self.upload):
            control.observe(self._refresh, names="value")
        super().__init__([widgets.HTML(f"<b>{html.escape(title)}</b>"), self.source, self.index, self.upload,
                          self.prompt, widgets.HBox([self.preview, self.note])])
        self._refresh()

    def image(self, pipe: MakeAVideoLite, seed: int) -> torch.Tensor:
        """The chosen image (3, size, size) in [-1, 1]; a ValueError says what is wrong with the input."""
        if self.source.value == "Shapes World":
            return self._scene(self.index.value)
        if self.source.value == "upload":
            return self._uploaded()
        image = pipe.text_to_image(self.prompt.value, seed=seed, progress=False)[0]
        self.preview.value = _png(image)  # the prompt's picture, drawn by P -> D
        self.note.value = f"drawn from the prompt, seed {seed}"
        return image

    def _uploaded(self) -> torch.Tensor:
        """The uploaded file as an image; the note under the preview names it and says how it was converted."""
        if not self.upload.value:
            raise ValueError("no image uploaded yet: press 'upload an image' and pick a file")
        file = self.upload.value[0]
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always")
            try:
                image = as_image(file["content"], self._size)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{file['name']}: {error}") from None
        self.note.value = "<br>".join(html.escape(text) for text in [file["name"], *map(str, (n.message for n in notes))])
        return image

    def _refresh(self, _=None) -> None:
        """Show the controls of the chosen source and preview what it gives."""
        source = self.source.value
        for control, name in ((self.index, "Shapes World"), (self.upload, "upload"), (self.prompt, "prompt")):
            control.layout.display = None if source == name else "none"
        self.note.value = ""
        if source == "Shapes World":
            self.preview.value = _png(self._scene(self.index.value))
        elif source == "upload" and self.upload.value:
            try:
                self.preview.value = _png(self._uploaded())
            except ValueError as error:
                self.note.value = f'<span style="color:#b00">{html.escape(str(error))}</span>'
        else:
            self.preview.value = b""


class VideoApp(widgets.VBox):
    """What both apps share: the knobs, the Generate button, the status line, progress and the result."""

    def __init__(self, title: str, about: str, pipe: MakeAVideoLite, inputs: list[widgets.Widget]):
        self.pipe = pipe
        active = get_preset()  # step counts from the active preset (ci: a few, for quick checks)
        s, stages = pipe.preset.interpolation, pipe.available_stages(first="upF")
        slider = {"style": {"description_width": "initial"}, "continuous_update": False}
        self.fps = widgets.IntSlider(value=pipe.preset.world.fps, min=1, max=30, description="fps", **slider)
        self.frames = widgets.IntSlider(value=s.window, min=2, max=pipe.interpolation.config["max_frames"],
                                        description="frames", **slider)
        self.steps = widgets.IntSlider(value=active.interpolation.sample_steps, min=1, max=100,
                                       description="upF steps", **slider)
        self.guidance = widgets.FloatSlider(value=s.guidance, min=0.0, max=8.0, step=0.5, description="guidance",
                                            **slider)
        self.sr_steps = widgets.IntSlider(value=active.sr_low.sample_steps, min=1, max=100,
                                          description="SR steps", **slider)
        self.seed = widgets.IntText(value=0, description="seed")
        self.stop_after = widgets.Dropdown(options=[(f"{name} ({SIZE_OF[name]})", name) for name in stages],
                                           value=stages[-1], description="last stage")
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="play")
        self.generate_button.on_click(self.generate)
        self.message = widgets.HTML()
        self.progress = widgets.Output()
        self.video = widgets.HTML()
        self.video.add_class("mav-result")  # what the browser test looks for
        self.result: VideoOutput | None = None
        knobs = widgets.VBox([widgets.HBox([self.fps, self.frames]), widgets.HBox([self.steps, self.guidance]),
                              widgets.HBox([self.sr_steps, self.stop_after]), self.seed])
        super().__init__([widgets.HTML(f"<h3>{html.escape(title)}</h3><p>{about}</p>"), *inputs, knobs,
                          self.generate_button, self.message, self.progress, self.video])

    def __repr__(self) -> str:  # the text a saved notebook shows in place of the live app
        return f"<{type(self).__name__}: a live app; run the notebook, or `mav-lite app`, to use it>"

    def run(self) -> VideoOutput:
        raise NotImplementedError

    def knobs(self) -> dict:
        """The keyword arguments every upF mode takes, from the sliders."""
        return {"seed": self.seed.value, "fps": self.fps.value, "steps": self.steps.value,
                "guidance": self.guidance.value, "stop_after": self.stop_after.value, "sr_steps": self.sr_steps.value}

    def generate(self, _=None) -> None:
        """The Generate button: run the mode; show the video, or what was wrong with the input."""
        self.generate_button.disabled = True
        self.message.value = f"generating (up to {self.stop_after.value})..."
        self.progress.clear_output()
        start, failure = time.perf_counter(), None
        with self.progress:  # errors are caught inside: an Output widget would print their traceback
            try:
                result = self.run()
                shown = video_html(result.video, result.fps, self.file_name)
            except Exception as error:  # noqa: BLE001 - the app shows every failure as a message
                failure = error
            finally:  # an interrupted kernel leaves the button usable too
                self.generate_button.disabled = False
        if failure is not None:  # bad input says what is wrong; anything else also names its kind
            text = str(failure) if isinstance(failure, (ValueError, TypeError, OSError)) \
                else f"{type(failure).__name__}: {failure}"
            self.message.value = f'<span style="color:#b00">&#9888; {html.escape(text)}</span>'
            self.progress.clear_output()
            return
        self.result, self.video.value = result, shown
        self.message.value = f"done in {time.perf_counter() - start:.1f} s ({result.timings()})"
        self.progress.clear_output()


class ImageToVideoApp(VideoApp):
    """Notebook 11: one image -> a clip that starts with it (upF given the first frame, then SR)."""

    file_name = "image_to_video"  # of the downloads

    def __init__(self, pipe: MakeAVideoLite):
        world = ShapesWorld(size=pipe.image_size, seed=0)
        self.picker = ImagePicker("the first frame", lambda i: world.image(i)[0], "Shapes World picture #",
                                  pipe.image_size, index=2)  # a large heart: one object, as D^t draws best
        super().__init__("Image to video", "upF animates one picture: the picture is the clip's first frame and, "
                         "through C_y, its condition.", pipe, [self.picker])

    def run(self) -> VideoOutput:
        image = self.picker.image(self.pipe, self.seed.value)
        return self.pipe.image_to_video(image, frames=self.frames.value, **self.knobs())


class InterpolationApp(VideoApp):
    """Notebook 12: two images -> a clip from one to the other, or a Shapes World clip -> variations."""

    file_name = "interpolation"
    MODES = ("two images -> clip", "variation of a clip")

    def __init__(self, pipe: MakeAVideoLite):
        size, frames = pipe.image_size, pipe.preset.world.frames
        world = ShapesWorld(size=size, seed=0)
        self.mode = widgets.ToggleButtons(options=self.MODES, value=self.MODES[0])
        self.first = ImagePicker("first frame", lambda i: world.video(i, frames=frames)[0][:, 0],
                                 "Shapes World clip # (its first frame)", size, index=9)  # a green circle moving
        self.last = ImagePicker("last frame", lambda i: world.video(i, frames=frames)[0][:, -1],
                                "Shapes World clip # (its last frame)", size, index=9)
        self.clip_index = widgets.BoundedIntText(value=9, min=0, max=99_999, description="Shapes World clip #",
                                                 style={"description_width": "initial"})
        # by default every 4th frame stays: from its embedding alone (0) upF often loses the scene's colours
        self.keep_every = widgets.IntSlider(value=min(4, frames), min=0, max=frames,
                                            description="keep every k-th frame (0: none)",
                                            style={"description_width": "initial"}, continuous_update=False)
        self.clip_preview = widgets.HTML()
        self._world, self._frames = world, frames
        self.pair = widgets.HBox([self.first, self.last])
        self.source_clip = widgets.VBox([self.clip_index, self.keep_every, self.clip_preview])
        self.mode.observe(self._refresh, names="value")
        self.clip_index.observe(self._refresh, names="value")
        super().__init__("Two images to a clip, and variations", "upF fills the frames between two given ones, "
                         "or redraws a clip from its embedding with new noise (keeping every k-th frame if asked).",
                         pipe, [self.mode, self.pair, self.source_clip])
        self._refresh()

    def clip(self) -> torch.Tensor:
        """The Shapes World clip (3, T, H, W) that variation starts from."""
        return self._world.video(self.clip_index.value, frames=self._frames)[0]

    def run(self) -> VideoOutput:
        knobs = self.knobs()
        if self.mode.value == self.MODES[0]:
            first = self.first.image(self.pipe, knobs["seed"])
            last = self.last.image(self.pipe, knobs["seed"])
            return self.pipe.interpolate(first, last, frames=self.frames.value, **knobs)
        return self.pipe.variation(self.clip(), keep_every=self.keep_every.value or None, **knobs)

    def _refresh(self, _=None) -> None:
        variation = self.mode.value == self.MODES[1]
        self.pair.layout.display = "none" if variation else None
        self.source_clip.layout.display = None if variation else "none"
        self.frames.disabled = variation  # a variation keeps its clip's length
        if variation:
            strip = torch.cat(list(self.clip().unbind(1)), dim=2)  # (3, H, T*W): the frames in a row
            data = base64.b64encode(_png(strip, 64)).decode("ascii")
            self.clip_preview.value = f'<img src="data:image/png;base64,{data}" title="the clip, frame by frame">'


def image_to_video_app(pipe: MakeAVideoLite | None = None) -> ImageToVideoApp:
    """The image-to-video app of notebook 11 (the reference weights unless a pipeline is given)."""
    return ImageToVideoApp(pipe or MakeAVideoLite.from_pretrained())


def interpolation_app(pipe: MakeAVideoLite | None = None) -> InterpolationApp:
    """The interpolation and variation app of notebook 12 (the reference weights unless a pipeline is given)."""
    return InterpolationApp(pipe or MakeAVideoLite.from_pretrained())
