import subprocess
import sys
import time

import nbformat
from PIL import Image

from mav_lite.cli import main
from mav_lite.notebooks import run_notebook
from ports import free_port, listening


def test_demo_writes_the_whole_chain_as_mp4_and_gif(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--preset", "ci"]) == 0
    assert (tmp_path / "first_video.mp4").stat().st_size > 1000
    gif = Image.open(tmp_path / "first_video.gif")
    assert (gif.n_frames, gif.size) == (29, (256, 256))  # the reference upF's 8 -> 29 frames, four SR_h clips 2x2
    out = capsys.readouterr().out
    assert "preset 'ci'" in out and "SR_h" in out


def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--preset", "laptop"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "valid presets: ci, cpu, gpu, paper" in err
    assert main(["notebook", str(tmp_path / "missing.ipynb"), "--preset", "ci"]) == 2


def test_text_to_image_writes_a_grid_and_rejects_unknown_words(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["text-to-image", "a red circle", "a blue star", "--steps", "4", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > Image.open(out).size[1] > 100  # two images side by side, enlarged
    capsys.readouterr()  # the progress bars of the first call
    assert main(["text-to-image", "a crimsom circle", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'crimson'" in err
    assert main(["text-to-image", "a red circle", "--candidates", "0", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "candidates is how many images to draw per prompt" in err


def test_notebook_runner_saves_outputs_without_widget_state(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nprint(os.environ['MAV_LITE_PROFILE'])")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    run_notebook(path, "gpu")
    saved = nbformat.read(path, as_version=4)
    assert saved.cells[0].outputs[0]["text"] == "gpu\n"  # the kernel ran in the preset asked for
    assert "widgets" not in saved.metadata and saved.metadata["mav_lite"]["preset"] == "gpu"


def test_generate_animate_and_interpolate_write_clips(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    assert main(["generate", "a large red circle", "--out", str(clip), "--stop-after", "D^t", "--preset", "ci"]) == 0
    assert clip.stat().st_size > 1000 and "8 frames of 32x32 at 8 fps" in capsys.readouterr().out  # D^t's 8 frames
    picture = tmp_path / "red.png"
    Image.new("RGB", (48, 48), (255, 0, 0)).save(picture)
    animated = tmp_path / "animated.gif"
    assert main(["animate", str(picture), "--out", str(animated), "--frames", "3", "--stop-after", "upF",
                 "--preset", "ci"]) == 0
    assert Image.open(animated).n_frames == 3
    joined = tmp_path / "joined.mp4"
    assert main(["interpolate", str(picture), str(picture), "--out", str(joined), "--frames", "4", "--stop-after", "upF",
                 "--preset", "ci"]) == 0
    assert "4 frames of 32x32" in capsys.readouterr().out


def test_generate_and_animate_errors_are_one_line(tmp_path, capsys):
    assert main(["generate", "a large red blorp", "--out", str(tmp_path / "c.mp4"), "--preset", "ci"]) == 2
    assert main(["animate", str(tmp_path / "missing.png"), "--preset", "ci"]) == 2
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    assert main(["animate", str(notes), "--preset", "ci"]) == 2
    assert main(["generate", "a red circle", "--stop-after", "SR", "--preset", "ci"]) == 2
    assert main(["generate", "a red circle", "--out", str(tmp_path / "clip.avi")]) == 2  # before any generation
    assert main(["app", "--preset", "laptop"]) == 2  # before Voila starts
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 6 and "'blorp'" in err[0] and "no image at" in err[1] and "not an image PIL can read" in err[2]
    assert "unknown stage 'SR'" in err[3] and "clip.avi: use a .mp4 or .gif" in err[4] and "valid presets" in err[5]


def test_stopping_the_app_stops_its_voila_server():
    port = free_port()
    app = subprocess.Popen([sys.executable, "-m", "mav_lite", "app", "--no-browser", "--port", str(port),
                            "--preset", "ci"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not listening(port):
        assert app.poll() is None and time.time() < deadline, "Voila did not open its port in 60 s"
        time.sleep(0.5)
    app.terminate()  # SIGTERM, as a process manager or a closed terminal sends
    app.wait(timeout=30)
    deadline = time.time() + 15
    while listening(port):
        assert time.time() < deadline, "Voila still serves after the app was stopped"
        time.sleep(0.5)
