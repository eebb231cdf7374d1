"""A job's pictures on disk: its photo and its styles, downloaded when not cached."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.core.errors import unusable_as
from bot.core.models import Job, StyleRef
from bot.presets.library import PresetLibrary
from bot.store.files import FileStore
from engine.video_io import ClipLimits

ClipLimitsFor = Callable[[str], ClipLimits]  # a clip's limits by the kind it comes back as


class JobInputs:
    """Finds the photo and style files of a job (presets from the library, the rest from Telegram's files)."""

    def __init__(self, files: FileStore, presets: PresetLibrary, clip_limits: ClipLimitsFor | None = None) -> None:
        self._files, self._presets = files, presets
        self._clip_limits = clip_limits or (lambda media: ClipLimits())

    async def fetch(self, job: Job) -> tuple[Path, list[Path]]:
        """The job's photo (or clip) and style images on disk."""
        with unusable_as("photo"):  # which one the user must send again
            if job.params.is_clip:
                limits = self._clip_limits(job.params.media)
                content, _ = await self._files.fetch_clip(job.content_file_id, None, limits)
            else:
                content = await self._files.fetch_image(job.content_file_id)
        with unusable_as("style"):
            return content, [await self._style_path(ref) for ref in job.styles]

    async def _style_path(self, ref: StyleRef) -> Path:
        """The image file of a style: a preset on disk or a downloaded Telegram file."""
        if ref.kind == "preset" and ref.name is not None:
            return self._presets.get(ref.name).path
        if ref.file_id is None:
            raise ValueError("a style without a file")
        return await self._files.fetch_image(ref.file_id)


def blend(job: Job) -> tuple[float, ...]:
    """The job's style shares, summing to 1."""
    total = sum(ref.weight for ref in job.styles)
    return tuple(ref.weight / total for ref in job.styles)
