"""Real disk faults for tests: a small tmpfs mounted under the test's own directory, filled with a file."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallDisk:
    """A tmpfs of a few megabytes; `fill()` takes every free byte, `free()` gives them back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._filler = root / ".filler"

    def fill(self) -> None:
        """Write until the disk is full (ENOSPC), as `dd if=/dev/zero` would."""
        block = b"\0" * 65536
        with contextlib.suppress(OSError), self._filler.open("ab") as out:
            while True:
                out.write(block)
                out.flush()
        with contextlib.suppress(OSError), self._filler.open("ab") as out:  # the last partial block
            out.write(b"\0" * 4096)

    def free(self) -> None:
        """Delete the filler."""
        self._filler.unlink(missing_ok=True)


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int = 8) -> Iterator[SmallDisk]:
    """Mount a tmpfs of size_mb at path for the duration; the test is skipped where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (a real full-disk test)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield SmallDisk(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
