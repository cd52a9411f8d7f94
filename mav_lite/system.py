"""What this machine offers the course: versions, device, precision support, ffmpeg (notebook 00).

`report()` is the setup check printed by notebook 00 and `mav-lite info`; `time_ms` and
`train_step_ms` time a step the way every benchmark does. `cpu_has_bf16()` is the
one place that decides whether bf16 is worth using on a CPU: on a processor without bf16
instructions (AVX2 only) a bf16 conv measured ~35x slower than fp32, so the answer comes from the
processor's features, never from one timing.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from pathlib import Path

import torch


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 arithmetic (AVX512-BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def synchronize(device: torch.device) -> None:
    """Wait until `device` has finished the work queued on it (a GPU runs ahead of Python; a CPU does not)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn, device: torch.device, repeats: int) -> float:
    """Median milliseconds of fn() after two warm-up calls (waiting for the GPU, if any, each time)."""
    fn(), fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def train_step_ms(model, inputs: tuple, repeats: int, **kwargs) -> float:
    """Median milliseconds of one training step: forward, a squared-output loss, backward, AdamW."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        model(*inputs, **kwargs).float().pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return time_ms(step, inputs[0].device, repeats)


def native_bf16(device: torch.device) -> bool:
    """True where `device` computes in bf16 natively (a GPU that supports it, a CPU with bf16
    instructions): training and sampling use bf16 autocast there, fp32 elsewhere."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and cpu_has_bf16()


def device() -> torch.device:
    """The device the course trains on: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def processor_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """What a device is, in words: the GPU's name, or the processor's with the CPU threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{processor_name()}, {torch.get_num_threads()} threads"


def describe_machine(on: torch.device | None = None) -> str:
    """The first line of every benchmark's table: the device it ran on and torch's version."""
    return f"{device_name(on or device())}, torch {torch.__version__}"


def peak_memory_mb() -> float:
    """Peak memory so far, in MB: what torch allocated on the GPU when there is one (reset it with
    torch.cuda.reset_peak_memory_stats()), else this process's peak resident memory (it only grows,
    so measure the smaller job first)."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KB


def report() -> dict[str, str]:
    """Versions, device, precision support, preset and ffmpeg, as strings (setup check)."""
    import mediapy
    import numpy

    from . import __version__
    from .config import get_preset
    from .viz import ensure_ffmpeg

    info = {
        "mav_lite": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "mediapy": mediapy.__version__,
        "processor": processor_name(),
        "cpu capability": torch.backends.cpu.get_cpu_capability(),
        "cpu bf16": "yes" if cpu_has_bf16() else "no (fp32 on CPU)",
        "threads": str(torch.get_num_threads()),
        "device": str(device()),
        "preset": get_preset().name,
        "ffmpeg": "imageio-ffmpeg's binary" if "imageio_ffmpeg" in ensure_ffmpeg() else "the system's",
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
