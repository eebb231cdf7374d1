"""Errors the core raises for people: each names a sentence the Telegram layer says, never the words."""

from __future__ import annotations


class UserFacingError(Exception):
    """Expected bad input or a state the user can act on; `key` names what to say, `values` fill it in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key, values)
        self.key = key
        self.values = values


class UnavailableError(UserFacingError):
    """Painting cannot run at all (the workers cannot load the model)."""

    def __init__(self, admins_told: bool) -> None:
        super().__init__("UNAVAILABLE_TOLD" if admins_told else "UNAVAILABLE")


class FileTooLargeError(UserFacingError):
    """An upload is over the size limit (its size None: it ran past the limit while downloading, size unknown)."""

    def __init__(self, size_mb: float | None, limit_mb: float) -> None:
        if size_mb is None:
            super().__init__("FILE_OVER_LIMIT", limit=f"{limit_mb:.0f}")
        else:
            super().__init__("FILE_TOO_LARGE", size=f"{size_mb:.1f}", limit=f"{limit_mb:.0f}")


class DownloadUnavailableError(Exception):
    """Telegram could not hand over a file just now (network trouble); trying later can work."""


class BrokerUnavailableError(UserFacingError):
    """The painting cluster's broker cannot be reached just now; new jobs are refused until it is back."""

    def __init__(self) -> None:
        super().__init__("CLUSTER_BUSY")


# Why a clip cannot be painted (engine.errors.ClipError.kind) -> the sentence the Telegram layer says.
CLIP_ERROR_KEYS = {
    "damaged": "CLIP_DAMAGED",
    "unsupported": "CLIP_UNSUPPORTED",
    "no_video": "CLIP_NO_VIDEO",
    "no_frames": "CLIP_NO_FRAMES",
    "too_long": "CLIP_TOO_LONG",
    "too_many_frames": "CLIP_TOO_MANY_FRAMES",
    "too_large": "CLIP_TOO_LARGE",
    "no_alpha": "CLIP_NO_ALPHA",
    "file_too_large": "CLIP_FILE_TOO_LARGE",  # the bot's own refusal before downloading (or sending to a cluster)
}
CLIP_DETAIL_PREFIX = "clip:"


class ClipRefusedError(UserFacingError):
    """A clip cannot be painted (damaged, too long, a decompression bomb...); `kind` is the engine's ClipError.kind."""

    def __init__(self, kind: str, **values: object) -> None:
        super().__init__(CLIP_ERROR_KEYS.get(kind, "CLIP_DAMAGED"), **values)
        self.kind = kind

    def detail(self) -> str:
        """The error as one line a worker's failure can carry to the bot ("clip:too_long:seconds=42,limit_s=30")."""
        values = ",".join(f"{k}={v}" for k, v in self.values.items())
        return f"{CLIP_DETAIL_PREFIX}{self.kind}:{values}"

    @classmethod
    def from_detail(cls, detail: str | None) -> ClipRefusedError | None:
        """The error a worker's failure line stands for, or None when it is no clip error."""
        if not detail or not detail.startswith(CLIP_DETAIL_PREFIX):
            return None
        kind, _, rest = detail[len(CLIP_DETAIL_PREFIX) :].partition(":")
        values = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
        return cls(kind, **values)
