"""Old job folders and cached downloads are deleted; recent ones are kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bot.jobs.purge import purge_old


def test_purge_removes_only_entries_past_their_keep_time(tmp_path: Path) -> None:
    old_dir, new_dir = tmp_path / "1", tmp_path / "2"
    for directory in (old_dir, new_dir):
        directory.mkdir()
        (directory / "making_of.gif").write_bytes(b"GIF89a")
    old_file, new_file = tmp_path / "cached-a", tmp_path / "cached-b"
    old_file.write_bytes(b"x")
    new_file.write_bytes(b"y")
    long_ago = time.time() - 3 * 3600
    for entry in (old_dir, old_file):
        os.utime(entry, (long_ago, long_ago))
    assert purge_old(tmp_path, 2 * 3600) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2", "cached-b"]
    assert purge_old(tmp_path / "missing", 1) == 0
