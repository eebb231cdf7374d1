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
