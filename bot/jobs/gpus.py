"""How many GPUs this machine shows, asked where painting workers start (never while reading settings)."""

from __future__ import annotations

import os
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """The GPU ids this machine shows: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return [str(i) for i in range(_nvidia_smi_count())]


def count_gpus() -> int:
    """NVIDIA GPUs visible to this machine, without importing TensorFlow in the bot process (blocking: a thread's)."""
    return len(visible_gpus())


def _nvidia_smi_count() -> int:
    """GPUs `nvidia-smi -L` lists; 0 without the tool or when it fails."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))
