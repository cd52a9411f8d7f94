"""Re-execute a course notebook in a preset and save it with its outputs (`mav-lite notebook`).

Notebooks are committed with the outputs of a real run of a named preset. This runs one top to
bottom in a fresh kernel with `MAV_LITE_PROFILE` set, then saves it clean: the preset and run time
in its metadata, no saved widget state (progress bars keep their text form).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .config import ENV_VAR, get_preset

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def clean(nb) -> None:
    """Drop saved widget state and widget views (keeping their text fallback)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]


def run_notebook(path, preset: str, timeout: int = 3600, save: bool = True) -> float:
    """Execute the notebook at `path` with preset `preset`; returns the seconds it took."""
    try:
        import nbformat
        from nbclient import NotebookClient
    except ImportError as err:
        raise SystemExit("running notebooks needs the dev extra: pip install -e '.[dev]'") from err
    get_preset(preset)  # fails early, listing the valid names
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = preset  # the kernel inherits it
    start = time.perf_counter()
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if previous is None:
            os.environ.pop(ENV_VAR)
        else:
            os.environ[ENV_VAR] = previous
    seconds = time.perf_counter() - start
    clean(nb)
    nb.metadata["mav_lite"] = {"preset": preset, "seconds": round(seconds, 1)}
    if save:
        nbformat.write(nb, path)
    return seconds
