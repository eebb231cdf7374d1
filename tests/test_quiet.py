"""quiet_native_stderr drops TensorFlow's GPU-probing lines written to fd 2 and keeps everything else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs a script in a fresh interpreter
ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import os, sys
from bot.jobs.quiet import quiet_native_stderr
noise = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n"
    b"I0000 00:00:1.2 4950 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.\\n"
    b"E0000 00:00:1.8 4950 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error\\n"
)
with quiet_native_stderr(enabled=sys.argv[1] == "on"):
    os.write(2, noise)
    os.write(2, b"F0000 something fatal\\n")
    sys.stderr.write("python warning\\n")
sys.stderr.write("after\\n")
"""


def run(mode: str) -> str:
    """The stderr of the script with the filter on or off."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stderr


def test_noise_is_dropped_and_the_rest_kept_in_order() -> None:
    assert run("on").splitlines() == ["F0000 something fatal", "python warning", "after"]


def test_disabled_at_debug_level_everything_shows() -> None:
    err = run("off")
    assert "cudart_stub.cc" in err and "failed call to cuInit" in err and "absl::InitializeLog" in err
