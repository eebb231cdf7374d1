"""A real small disk for fault tests: a tmpfs that a test fills with dd and frees (the `full_disk` fixture)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DISK_SIZE = "4m"  # room for a bot's database and a few photos; filled in milliseconds


@dataclass(frozen=True)
class SmallDisk:
    """A tmpfs of a test's own at `path`: `fill()` it to the last byte with dd, `free()` it again."""

    path: Path

    @property
    def filler(self) -> Path:
        """The file dd fills the disk with."""
        return self.path / "filler"

    def fill(self) -> None:
        """Write zeros until the disk is full (dd stops at ENOSPC, as any writer would)."""
        subprocess.run(["dd", "if=/dev/zero", f"of={self.filler}", "bs=4k"], check=False, capture_output=True)
        assert shutil.disk_usage(self.path).free == 0, shutil.disk_usage(self.path)

    def free(self) -> None:
        """Delete the filler: the disk has room again."""
        self.filler.unlink(missing_ok=True)
