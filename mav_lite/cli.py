"""The `mav-lite` command (also `python -m mav_lite`).

    mav-lite info                                  # setup check: versions, device, preset, ffmpeg
    mav-lite demo --out outputs                    # a first generated video (text to video), as MP4 and GIF
    mav-lite notebook notebooks/01_shapes_world.ipynb --preset cpu   # re-run and save with outputs
    mav-lite train unconditional --preset cpu --steps 1500 --out runs/uncond   # train a stage (--resume)
    mav-lite publish runs/uncond                   # its weights become the reference in data/checkpoints
    mav-lite text-to-image "a red circle" "a blue star at the top left" --out outputs/images.png
    mav-lite generate "a red circle" --out outputs/clip.mp4 --seed 0 --fps 8   # text to video, the whole chain
    mav-lite animate photo.png --out outputs/animated.mp4              # image to video
    mav-lite interpolate first.png last.png --out outputs/joined.gif   # two images to a clip
    mav-lite app                                   # the widget apps of notebooks 11 and 12, served by Voila
    mav-lite eval --preset cpu                     # the paper's metrics and claims: outputs/eval/cpu/report.md

Bad arguments end with exit code 2 and a one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def _info(args) -> None:
    from .system import report

    for key, value in report().items():
        print(f"{key:>15}: {value}")


DEMO_PROMPTS = ("a large red circle", "a large blue star", "a large yellow square", "a green heart")


def first_video(out: Path, preset_name: str | None = None) -> list[Path]:
    """Text to video with the reference chain, C_x -> P -> D^t -> upF -> SR_l^t -> SR_h, with the named
    preset's sampling steps: four prompts, tiled 2x2, as MP4 and GIF."""
    from . import MakeAVideoLite
    from .config import get_preset
    from .viz import save_video, video_grid

    preset = get_preset(preset_name)
    print(preset.summary())
    pipe = MakeAVideoLite.from_pretrained()
    result = pipe.text_to_video(list(DEMO_PROMPTS), seed=0, steps=preset.video.sample_steps,
                                prior_steps=preset.prior.sample_steps, upf_steps=preset.interpolation.sample_steps,
                                sr_steps=preset.sr_low.sample_steps)
    for prompt in DEMO_PROMPTS:
        print(f"  {prompt}")
    print("seconds per stage: " + ", ".join(f"{name} {s:.1f}" for name, s in result.seconds.items()))
    grid = video_grid(list(result.videos), ncols=2)  # (3, T, 2H, 2W)
    return [save_video(grid, out / f"first_video{ext}", fps=result.fps, height=256) for ext in (".mp4", ".gif")]


def _demo(args) -> None:
    paths = first_video(Path(args.out), args.preset)
    for path in paths:
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def _notebook(args) -> None:
    from .notebooks import run_notebook

    for path in args.paths:
        seconds = run_notebook(path, args.preset, save=not args.no_save)
        print(f"{path}: ran in {seconds:.1f} s with preset {args.preset}" + ("" if args.no_save else ", saved"))


def _publish(args) -> None:
    from .checkpoints import publish

    folder = publish(args.folder)
    size = sum(f.stat().st_size for f in folder.iterdir())
    print(f"published {args.folder} as the reference of its stage: {folder} ({size / 1e6:.1f} MB)")


def _text_to_image(args) -> None:
    from . import MakeAVideoLite
    from .viz import save_image_grid

    pipe = MakeAVideoLite.from_pretrained(args.checkpoints)
    images = pipe.text_to_image(args.prompts, seed=args.seed, steps=args.steps, guidance=args.guidance,
                                prior_guidance=args.prior_guidance, candidates=args.candidates,
                                strict=not args.allow_unknown)
    scale = max(1, 256 // pipe.image_size)
    out = save_image_grid(images, args.out, scale=scale)
    print(f"wrote {out}: {len(images)} image(s) of {pipe.image_size}x{pipe.image_size}, shown {scale}x larger")


def _pipeline(args):
    """The reference chain (or --checkpoints), and the active preset, whose step counts the commands use."""
    from . import MakeAVideoLite
    from .config import get_preset

    preset, pipe = get_preset(args.preset), MakeAVideoLite.from_pretrained(args.checkpoints)
    print(f"weights: {pipe.preset.summary()}\nDDIM steps: those of preset {preset.name!r}")
    return pipe, preset


def _video_path(path: str) -> Path:
    """The --out file, checked before any generation: a .mp4 or .gif in a folder that can be made."""
    path = Path(path)
    if path.suffix.lower() not in (".mp4", ".gif"):
        raise ValueError(f"--out {path}: use a .mp4 or .gif file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _write(out, path: Path) -> None:
    """Save a VideoOutput's clip and say what it holds and how long each stage took."""
    path = out.save(path)
    t, size = out.video.shape[1], out.video.shape[-1]
    print(f"wrote {path}: {t} frames of {size}x{size} at {out.fps:g} fps ({out.timings()})")


def _generate(args) -> None:
    path = _video_path(args.out)
    pipe, preset = _pipeline(args)
    steps = preset.chain_steps() | ({"steps": args.steps} if args.steps else {})
    out = pipe.text_to_video(args.prompt, seed=args.seed, fps=args.fps, frames=args.frames, guidance=args.guidance,
                             stop_after=args.stop_after, strict=not args.allow_unknown, **steps)
    _write(out, path)


def _upf_mode(args) -> None:
    path = _video_path(args.out)
    pipe, preset = _pipeline(args)
    knobs = dict(seed=args.seed, fps=args.fps, frames=args.frames, steps=args.steps or preset.interpolation.sample_steps,
                 guidance=args.guidance, stop_after=args.stop_after, sr_steps=preset.sr_low.sample_steps)
    if args.command == "animate":
        out = pipe.image_to_video(args.image, **knobs)
    else:
        out = pipe.interpolate(args.first, args.last, **knobs)
    _write(out, path)


APPS = {"image-to-video": "notebooks/11_image_to_video_app.ipynb",
        "interpolation": "notebooks/12_interpolation_app.ipynb"}


def _app(args) -> int:
    import signal
    import subprocess

    from .config import get_preset

    if args.preset:
        get_preset(args.preset)  # a clear error now, not inside the page
    root = Path(__file__).resolve().parent.parent
    notebook = root / APPS[args.app]
    if not notebook.exists():
        raise FileNotFoundError(f"no {notebook}: `mav-lite app` serves the notebooks of a clone of the course")
    env = {**os.environ, "MAV_LITE_PROFILE": args.preset} if args.preset else None
    command = [sys.executable, "-m", "voila", str(notebook), f"--port={args.port}",
               "--Voila.ip=127.0.0.1", *(["--no-browser"] if args.no_browser else [])]
    print(f"serving {notebook.name} at http://127.0.0.1:{args.port} (Ctrl-C stops it)")
    server = subprocess.Popen(command, env=env)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())  # stopping the app stops Voila, not orphans it
    try:
        return server.wait()
    except KeyboardInterrupt:  # let Voila shut its kernels down
        server.send_signal(signal.SIGINT)
        return server.wait()


def _eval(args) -> None:
    from .chain_eval import evaluate, markdown_report

    pipe, preset = _pipeline(args)
    report = evaluate(pipe, preset, args.out, args.n, args.seed, args.claims, args.stop_after, args.batch)
    print(markdown_report(report))
    seconds = sum(report["seconds_per_clip"].values()) * report["n"]
    print(f"wrote {Path(report['folder']) / 'report.json'} and report.md ({seconds / 60:.1f} minutes of generation)")


def _chain_arguments(p: argparse.ArgumentParser, out: str) -> None:
    """The options generate, animate and interpolate share."""
    p.add_argument("--out", default=out, help=f"the .mp4 or .gif to write (default: {out})")
    p.add_argument("--seed", type=int, default=0, help="the same seed gives the same video (default: 0)")
    p.add_argument("--fps", type=float, default=None, help="frames per second of the first stage's clip "
                   "(default: the preset's)")
    p.add_argument("--frames", type=int, default=None, help="frames of the first stage's clip (default: the preset's: "
                   "D^t's clip for generate, upF's window for animate and interpolate)")
    p.add_argument("--steps", type=int, default=None, help="DDIM steps of the first stage (default: the preset's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale of the first stage")
    p.add_argument("--stop-after", default=None, help="the last stage to run: D^t (generate only), upF, SR_l^t "
                   "or SR_h (default: every stage)")
    p.add_argument("--preset", default=None, help="whose step counts to use: ci, cpu, gpu or paper "
                   "(default: $MAV_LITE_PROFILE)")
    p.add_argument("--checkpoints", type=Path, default=None, help="a folder of stage checkpoints "
                   "(default: data/checkpoints)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mav-lite", description="Make-A-Video, rebuilt at laptop scale.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="setup check: versions, device, preset, ffmpeg").set_defaults(run=_info)
    demo = sub.add_parser("demo", help="generate a first video from text with the reference weights (MP4 and GIF)",
                          epilog="example: mav-lite demo --out outputs")
    demo.add_argument("--out", default="outputs", help="folder for the video files (default: outputs)")
    demo.add_argument("--preset", default=None, help="ci, cpu, gpu or paper (default: $MAV_LITE_PROFILE)")
    demo.set_defaults(run=_demo)
    nb = sub.add_parser("notebook", help="re-execute notebooks in a preset and save them with outputs",
                        epilog="example: mav-lite notebook notebooks/01_shapes_world.ipynb --preset cpu")
    nb.add_argument("paths", nargs="+", type=Path)
    nb.add_argument("--preset", required=True, help="ci, cpu, gpu or paper")
    nb.add_argument("--no-save", action="store_true", help="run only; leave the file as it is")
    nb.set_defaults(run=_notebook)
    from . import train

    tr = sub.add_parser("train", help="train a stage of the chain; resumable",
                        epilog="example: mav-lite train unconditional --preset cpu --steps 1500 --out runs/uncond")
    train.add_arguments(tr)
    tr.set_defaults(run=train.run)
    pub = sub.add_parser("publish", help="make a run's weights the reference in data/checkpoints (float16)",
                         epilog="example: mav-lite publish runs/uncond")
    pub.add_argument("folder", type=Path, help="a run folder written by mav-lite train")
    pub.set_defaults(run=_publish)
    t2i = sub.add_parser("text-to-image", help="draw images for prompts with the reference weights",
                         epilog='example: mav-lite text-to-image "a red circle" "a blue star" --out outputs/images.png')
    t2i.add_argument("prompts", nargs="+", help="one or more prompts")
    t2i.add_argument("--out", default="outputs/text_to_image.png", help="the PNG grid to write")
    t2i.add_argument("--seed", type=int, default=0)
    t2i.add_argument("--steps", type=int, default=None, help="decoder DDIM steps (default: the preset's)")
    t2i.add_argument("--guidance", type=float, default=None, help="decoder guidance scale (default: the preset's)")
    t2i.add_argument("--prior-guidance", type=float, default=None, help="prior guidance scale")
    t2i.add_argument("--candidates", type=int, default=1, help="images drawn per prompt; the one CLIP-lite puts "
                     "nearest its prompt is kept")
    t2i.add_argument("--allow-unknown", action="store_true", help="map unknown words to [unk] with a warning")
    t2i.add_argument("--checkpoints", type=Path, default=None, help="a folder with clip/, prior/, decoder/ "
                     "(default: data/checkpoints)")
    t2i.set_defaults(run=_text_to_image)
    gen = sub.add_parser("generate", help="text to video with the reference chain: C_x -> P -> D^t -> upF -> "
                         "SR_l^t -> SR_h", epilog='example: mav-lite generate "a red circle" --out clip.mp4 --seed 0 --fps 8')
    gen.add_argument("prompt", help="what to draw, in Shapes World's words")
    gen.add_argument("--allow-unknown", action="store_true", help="map unknown words to [unk] with a warning")
    _chain_arguments(gen, "outputs/clip.mp4")
    gen.set_defaults(run=_generate)
    animate = sub.add_parser("animate", help="image to video: the image is the first frame (upF, then SR)",
                             epilog="example: mav-lite animate photo.png --out outputs/animated.mp4")
    animate.add_argument("image", help="an image file of any size, mode and format")
    _chain_arguments(animate, "outputs/animated.mp4")
    animate.set_defaults(run=_upf_mode)
    join = sub.add_parser("interpolate", help="two images to a clip from the first to the last (upF, then SR)",
                          epilog="example: mav-lite interpolate first.png last.png --frames 9 --out outputs/joined.gif")
    join.add_argument("first", help="the first frame: an image file")
    join.add_argument("last", help="the last frame: an image file")
    _chain_arguments(join, "outputs/interpolated.mp4")
    join.set_defaults(run=_upf_mode)
    from .claims import NAMES
    from .evaluation import EVAL_SEED

    ev = sub.add_parser("eval", help="the paper's metrics (CLIPSIM-, FID-, FVD-lite, attributes, motion) on a fixed "
                        "set of prompts through the chain, and its claims measured; resumable",
                        epilog="example: mav-lite eval --preset cpu --claims abcdef")
    ev.add_argument("--out", default=None, help="folder for report.json, report.md and the cache of generated "
                    "clips (default: outputs/eval/PRESET)")
    ev.add_argument("--n", type=int, default=None, help="prompts in the set, even, >= 6 (default: the preset's: "
                    "64 in cpu)")
    ev.add_argument("--seed", type=int, default=EVAL_SEED, help=f"the set's seed (default: {EVAL_SEED})")
    ev.add_argument("--claims", default="".join(NAMES), help="which claims to measure, as letters: "
                    + ", ".join(f"{k} {v}" for k, v in NAMES.items()) + " (default: all; '' for none)")
    ev.add_argument("--stop-after", default=None, help="the last stage to judge: D^t, upF, SR_l^t or SR_h "
                    "(default: every stage)")
    ev.add_argument("--batch", type=int, default=8, help="prompts generated at once (default: 8)")
    ev.add_argument("--preset", default=None, help="whose step counts, set size and clip length to use: ci, cpu, "
                    "gpu or paper (default: $MAV_LITE_PROFILE)")
    ev.add_argument("--checkpoints", type=Path, default=None, help="a folder of stage checkpoints "
                    "(default: data/checkpoints)")
    ev.set_defaults(run=_eval)
    app = sub.add_parser("app", help="serve a widget app (notebook 11 or 12) with Voila in the browser",
                         epilog="example: mav-lite app interpolation --port 8866")
    app.add_argument("app", nargs="?", choices=sorted(APPS), default="image-to-video",
                     help="which app (default: image-to-video)")
    app.add_argument("--port", type=int, default=8866)
    app.add_argument("--no-browser", action="store_true", help="serve only; open the address yourself")
    app.add_argument("--preset", default=None, help="ci, cpu, gpu or paper (default: $MAV_LITE_PROFILE)")
    app.set_defaults(run=_app)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    start = time.perf_counter()
    try:
        code = args.run(args) or 0  # only `app` returns one: Voila's
    except (ValueError, OSError) as err:  # CheckpointError and DataError are ValueErrors; files are OSErrors
        print(f"mav-lite {args.command}: error: {err}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
