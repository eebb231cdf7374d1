"""Where a job's files live: one source for the worker, the dispatcher and the purge."""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CLIP_SUFFIXES = {"animation": "mp4", "video": "mp4", "video_note": "mp4", "video_sticker": "webm", "sticker": "webp"}
_REMOVER = ThreadPoolExecutor(1, thread_name_prefix="remove-files")  # folder deletions, in order, off the loop


@dataclass(frozen=True)
class JobFiles:
    """The scratch folder of one job and the files in it."""

    root: Path

    @classmethod
    def of(cls, jobs_dir: Path, job_id: int) -> JobFiles:
        """The files of job `job_id` under the jobs folder."""
        return cls(jobs_dir / str(job_id))

    @property
    def photo(self) -> Path:
        """The result as a photo (at most Telegram's photo size)."""
        return self.root / "result.jpg"

    @property
    def document(self) -> Path:
        """The full-size result, for HD jobs."""
        return self.root / "result_hd.png"

    def clip(self, media: str) -> Path:
        """A clip job's result: MP4 for GIFs, videos and video notes, WEBM for video stickers, WEBP for stickers."""
        return self.root / f"result.{CLIP_SUFFIXES.get(media, 'mp4')}"

    @property
    def clips(self) -> tuple[Path, ...]:
        """Every name a clip result may have."""
        return tuple(self.root / f"result.{suffix}" for suffix in sorted(set(CLIP_SUFFIXES.values())))

    @property
    def notes(self) -> Path:
        """What was changed to make a clip fit Telegram's rules (a sticker cut or sped up), one code a line."""
        return self.root / "notes.txt"

    @property
    def making_of(self) -> Path:
        """The making-of animation."""
        return self.root / "making_of.gif"

    @property
    def instant(self) -> Path:
        """The instant (feed-forward) preview."""
        return self.root / "instant.jpg"

    @property
    def live(self) -> Path:
        """The picture as it forms, for the live preview."""
        return self.root / "live.jpg"

    def frame(self, step: int) -> Path:
        """A making-of frame."""
        return self.root / f"frame_{step:05d}.jpg"

    def drop_results(self) -> None:
        """Delete the delivered result files; the making-of stays until the files expire."""
        for path in (self.photo, self.document, self.instant, self.live, self.notes, *self.clips):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the whole folder: gone from its place at once, its files deleted by a background thread.

        Called on the event loop: a rename is one system call, while deleting a folder of frames and a 20 MB
        photo takes a while. A crash before the thread is done leaves a hidden folder that the purge removes.
        """
        doomed = self.root.with_name(f".removing-{self.root.name}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(self.root, doomed)
        except FileNotFoundError:
            return
        except OSError:  # another file system or a busy folder: delete it in place, still off the loop
            doomed = self.root
        _REMOVER.submit(shutil.rmtree, doomed, ignore_errors=True)
