"""`stylebot fetch-styles`: put the default preset catalogue into the styles directory (download or copy)."""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.config import USER_AGENT, CommonSettings, ConfigError
from bot.presets.catalogue import CATALOGUE, CatalogueEntry
from bot.presets.library import IMAGE_SUFFIXES, PresetError, PresetLibrary
from engine.errors import InvalidImageError

logger = logging.getLogger(__name__)

# Downloads send USER_AGENT unless given another: deployments set STYLEBOT_HTTP_USER_AGENT (Wikimedia wants a
# contact), which the settings read and `stylebot fetch-styles` and the bot pass in.
# What an operator can do when downloads fail, logged once at the end of a run.
DOWNLOAD_ADVICE = (
    "to get the paintings: check the network (or proxy) and run `stylebot fetch-styles` again; "
    "or save the images elsewhere as <name>.jpg in a folder and run `stylebot fetch-styles --from-dir DIR`; "
    "Wikimedia refuses clients that give no contact: set STYLEBOT_HTTP_USER_AGENT, "
    "e.g. 'stylebot/0.1 (https://example.org/mybot; you@example.org)'"
)
MAX_DOWNLOAD_BYTES = 30 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
# `timeout` bounds each socket wait; this many timeouts bound a whole download, so a trickle cannot hang us.
TOTAL_TIMEOUT_FACTOR = 10
_CHUNK_BYTES = 64 * 1024
_HTTP_SCHEMES = ("http", "https")


class Opener(Protocol):
    """What fetch_catalogue calls to open a request; urllib.request.urlopen fits."""

    def __call__(self, url: urllib.request.Request, /, *, timeout: float) -> Any:
        """Open the request and return a response usable as a context manager with read()."""


class DownloadError(Exception):
    """A download or copy failed for a reason this module found itself; the message says which."""


@dataclass
class FetchReport:
    """What one run did with each catalogue entry: fetched, skipped as present, or failed and why."""

    fetched: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line such as '2 fetched, 1 already present, 2 failed (nantes, the_scream)'."""
        text = f"{len(self.fetched)} fetched, {len(self.skipped)} already present, {len(self.failed)} failed"
        if self.failed:
            text += f" ({', '.join(self.failed)})"
        return text

    def failures(self) -> str:
        """The failures in one line: one shared reason said once, else each painting with its own."""
        reasons = set(self.failed.values())
        head = f"could not get {len(self.failed)} of {self.total} paintings"
        if len(reasons) == 1:
            return f"{head} ({', '.join(self.failed)}): {reasons.pop()}"
        return f"{head}: " + "; ".join(f"{name} ({reason})" for name, reason in self.failed.items())

    @property
    def total(self) -> int:
        """How many catalogue entries the run handled."""
        return len(self.fetched) + len(self.skipped) + len(self.failed)


def fetch_catalogue(
    styles_dir: str | os.PathLike[str],
    entries: Sequence[CatalogueEntry] = CATALOGUE,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    overwrite: bool = False,
    url_base: str | None = None,
    opener: Opener = urllib.request.urlopen,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    user_agent: str = USER_AGENT,
) -> FetchReport:
    """Download each entry into the styles directory as a preset; failures are reported, not raised."""
    if url_base is not None:
        check_url_base(url_base)

    def load(entry: CatalogueEntry) -> bytes:
        """The downloaded bytes of one entry, from its URL or the mirror."""
        url = entry.url if url_base is None else rewrite_url(entry.url, url_base)
        logger.debug("downloading %s from %s", entry.name, url)
        return download(url, timeout=timeout, max_bytes=max_bytes, opener=opener, user_agent=user_agent)

    source = url_base or "Wikimedia Commons"
    logger.info("downloading up to %d paintings from %s into %s", len(entries), source, styles_dir)
    report = _import_entries(PresetLibrary(styles_dir), entries, load, overwrite=overwrite)
    if report.failed:
        logger.warning("%s", report.failures())
        logger.warning("%s", DOWNLOAD_ADVICE)
    return report


def import_from_dir(
    styles_dir: str | os.PathLike[str],
    source_dir: str | os.PathLike[str],
    entries: Sequence[CatalogueEntry] = CATALOGUE,
    *,
    overwrite: bool = False,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> FetchReport:
    """Copy each entry's `<name>.jpg` (or .jpeg/.png/.webp) from a local directory in as a preset."""
    source = Path(source_dir)

    def load(entry: CatalogueEntry) -> bytes:
        """The bytes of the local copy of one entry."""
        path = _local_copy(source, entry.name)
        if path is None:
            raise DownloadError(f"no {entry.name}.jpg in {source}")
        if path.stat().st_size > max_bytes:
            raise DownloadError(f"{path} is larger than {_megabytes(max_bytes)}")
        logger.debug("copying %s from %s", entry.name, path)
        return path.read_bytes()

    report = _import_entries(PresetLibrary(styles_dir), entries, load, overwrite=overwrite)
    if report.failed:
        logger.warning("%s", report.failures())
        logger.warning(
            "to add them: put %s into %s (JPEG, PNG or WebP) and run `stylebot fetch-styles --from-dir %s` again",
            ", ".join(f"{name}.jpg" for name in report.failed),
            source,
            source,
        )
    return report


def download(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    opener: Opener = urllib.request.urlopen,
    user_agent: str = USER_AGENT,
) -> bytes:
    """The body at an http(s) URL, at most max_bytes, fetched within TOTAL_TIMEOUT_FACTOR × timeout."""
    if urllib.parse.urlsplit(url).scheme.lower() not in _HTTP_SCHEMES:
        raise DownloadError(f"refusing to fetch {url}: only http and https URLs are allowed")
    request = urllib.request.Request(url, headers={"User-Agent": user_agent})
    total = timeout * TOTAL_TIMEOUT_FACTOR
    deadline = time.monotonic() + total
    with opener(request, timeout=timeout) as response:
        status = getattr(response, "status", None) or 200
        if not 200 <= status < 300:  # urlopen raises for these itself; other openers may not
            raise DownloadError(f"HTTP {status}")
        headers = getattr(response, "headers", None)
        length = headers.get("Content-Length") if headers is not None else None
        if length is not None and length.strip().isdigit() and int(length) > max_bytes:
            raise DownloadError(f"larger than {_megabytes(max_bytes)} ({int(length):,} bytes announced)")
        # read1 returns whatever arrived, so the deadline is checked even while a server trickles.
        read: Callable[[int], bytes] = getattr(response, "read1", response.read)
        chunks: list[bytes] = []
        size = 0
        while chunk := read(_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadError(f"larger than {_megabytes(max_bytes)}")
            if time.monotonic() > deadline:
                raise DownloadError(f"took longer than {total:g} s")
            chunks.append(chunk)
    return b"".join(chunks)


def rewrite_url(url: str, base: str) -> str:
    """`url` with its scheme and host replaced by `base` (whose path, if any, prefixes the original path)."""
    parts = urllib.parse.urlsplit(url)
    base_parts = urllib.parse.urlsplit(base)
    path = base_parts.path.rstrip("/") + parts.path
    return urllib.parse.urlunsplit((base_parts.scheme, base_parts.netloc, path, parts.query, ""))


def check_url_base(base: str) -> None:
    """Raise ValueError unless `base` is an http(s) URL with a host, like http://127.0.0.1:8000."""
    parts = urllib.parse.urlsplit(base)
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.netloc:
        raise ValueError(f"the URL base must look like http://127.0.0.1:8000 or https://mirror/path; got {base!r}")


def default_styles_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$STYLEBOT_STYLES_DIR, else <$STYLEBOT_DATA_DIR or ./data>/styles: the settings model's styles_dir."""
    return CommonSettings.from_env(environ).styles_dir


def main(argv: list[str] | None = None) -> int:
    """Run `stylebot fetch-styles`; 0 when at least one preset is available afterwards, else 1."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    if args.url_base is not None:
        try:
            check_url_base(args.url_base)
        except ValueError as exc:
            parser.error(str(exc))
    if args.from_dir is not None and not args.from_dir.is_dir():
        parser.error(f"--from-dir {args.from_dir} is not a directory")
    try:
        settings = CommonSettings.from_env()  # the environment over .env: folders and the User-Agent
    except ConfigError as exc:
        parser.error(str(exc))
    # A no-op when the caller (the bot's entry point, or pytest) has configured logging already.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s: %(message)s")
    styles_dir: Path = args.styles_dir or settings.styles_dir
    if args.from_dir is not None:
        report = import_from_dir(styles_dir, args.from_dir, overwrite=args.overwrite)
    else:
        report = fetch_catalogue(
            styles_dir,
            timeout=args.timeout,
            overwrite=args.overwrite,
            url_base=args.url_base,
            user_agent=settings.http_user_agent,
        )
    # The failures and what to do about them were logged as a warning already; this is the tally.
    logger.info("fetch-styles: %s", report.summary())
    available = PresetLibrary(styles_dir).names()
    if not available:
        logger.error("no presets are available in %s", styles_dir)
        return 1
    logger.info("%d presets available in %s: %s", len(available), styles_dir, ", ".join(available))
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command-line parser of fetch-styles."""
    parser = argparse.ArgumentParser(
        prog="stylebot fetch-styles",
        description="Download the default preset styles (public-domain paintings) into the styles directory.",
    )
    parser.add_argument(
        "--styles-dir",
        type=Path,
        default=None,
        help="where presets live (default: $STYLEBOT_STYLES_DIR, else <$STYLEBOT_DATA_DIR or ./data>/styles)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace presets that already exist")
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy <name>.jpg files from this directory instead of downloading (works offline)",
    )
    source.add_argument(
        "--url-base",
        default=None,
        metavar="URL",
        help="download from this mirror: replaces each URL's scheme and host, keeping its path",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"network timeout per download step (default: {DEFAULT_TIMEOUT:g})",
    )
    return parser


def _import_entries(
    library: PresetLibrary,
    entries: Sequence[CatalogueEntry],
    load: Callable[[CatalogueEntry], bytes],
    *,
    overwrite: bool,
) -> FetchReport:
    """Load and store each entry with `load`, skipping present ones, recording every failure and moving on."""
    report = FetchReport()
    for entry in entries:
        if not overwrite and entry.name in library:
            logger.debug("skipping %s: already present (use --overwrite to replace it)", entry.name)
            report.skipped.append(entry.name)
            continue
        try:
            data = load(entry)
            library.add(entry.name, data, title=entry.title, artist=entry.artist, year=entry.year)
        except Exception as exc:  # one broken source must not cost the user the other presets
            reason = _describe(exc)
            # Expected failures are summed up in one warning by the caller; a bug keeps its traceback here.
            log = logger.debug if _is_expected(exc) else logger.exception
            log("could not get %s: %s", entry.name, reason)
            report.failed[entry.name] = reason
        else:
            report.fetched.append(entry.name)
    return report


def _is_expected(exc: Exception) -> bool:
    """Whether a failure is an ordinary one (network, bad file) rather than a bug worth a traceback."""
    expected = (DownloadError, InvalidImageError, PresetError, OSError, http.client.HTTPException, ValueError)
    return isinstance(exc, expected)


def _describe(exc: Exception) -> str:
    """A few words on why an entry failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, TimeoutError):
            return "timed out"
        return f"cannot connect: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, InvalidImageError):
        return f"not a usable image: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"broken HTTP response: {exc!r}"
    return str(exc) or type(exc).__name__


def _local_copy(source: Path, name: str) -> Path | None:
    """The file for preset `name` in `source`, trying .jpg first, or None."""
    for suffix in IMAGE_SUFFIXES:
        path = source / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def _megabytes(size: int) -> str:
    """A byte count in MB for messages."""
    return f"{size / (1024 * 1024):g} MB"
