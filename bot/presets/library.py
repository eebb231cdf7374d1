"""The preset library: a directory of style images, named by file stem, plus an optional manifest.json."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.imaging import encode_image, fit_longest_side, load_image

if sys.platform != "win32":
    import fcntl

logger = logging.getLogger(__name__)

# In order of preference, for the rare directory that holds one name under several suffixes.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MANIFEST_NAME = "manifest.json"
THUMBS_DIR = ".thumbs"
MAX_PRESET_SIDE = 1024
THUMBNAIL_SIDE = 320
MAX_STYLES = 4
NAME_RULE = "1-32 lowercase letters, digits or underscores"
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,32}")
META_FIELDS = ("title", "artist", "year")

_SPEC_HINT = "Use names with optional weights, like starry_night:0.7 the_scream:0.3"
# Plain decimals only: float() would also take "nan", "inf", "1e3" and "1_0".
_WEIGHT_PATTERN = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_SHOWN_NAME_CHARS = 40
_PRESET_QUALITY = 95
_THUMBNAIL_QUALITY = 85
_LOCK_NAME = ".lock"
# flock already excludes other processes; this covers threads where flock is unavailable.
_THREAD_LOCK = threading.Lock()


class PresetError(Exception):
    """Base class of the preset library's errors; str(error) is fit to show a user."""


class UnknownPresetError(PresetError, LookupError):
    """No preset has the requested name; the message lists the ones that exist."""

    def __init__(self, name: str, available: Sequence[str]) -> None:
        self.name = name
        self.available = tuple(available)
        super().__init__(_unknown_message(name, self.available))


class InvalidPresetNameError(PresetError, ValueError):
    """A name for a new preset breaks the naming rule."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"'{_shorten(name)}' cannot be a style name: use {NAME_RULE}, like starry_night.")


class InvalidStyleSpecError(PresetError, ValueError):
    """A style spec such as 'starry_night:0.7 the_scream:0.3' cannot be parsed."""


@dataclass(frozen=True)
class Preset:
    """One style image of the library and what is known about the artwork."""

    name: str
    path: Path
    title: str
    artist: str | None = None
    year: str | None = None

    @property
    def label(self) -> str:
        """The title with artist and year, e.g. 'The Starry Night — Vincent van Gogh, 1889'."""
        if self.artist and self.year:
            return f"{self.title} — {self.artist}, {self.year}"
        if self.artist:
            return f"{self.title} — {self.artist}"
        if self.year:
            return f"{self.title} ({self.year})"
        return self.title


def is_valid_name(name: str) -> bool:
    """Whether `name` may name a preset (1-32 lowercase letters, digits or underscores)."""
    return NAME_PATTERN.fullmatch(name) is not None


def default_title(name: str) -> str:
    """A title made from a preset name: 'starry_night' -> 'Starry Night'."""
    return " ".join(word[:1].upper() + word[1:] for word in name.split("_") if word) or name


def parse_weights(spec: str) -> list[tuple[str, float]]:
    """Split a style spec into (lower-cased name, weight) pairs, merging repeats; names are not checked."""
    tokens = [token for token in re.split(r"[\s,;]+", re.sub(r"\s*:\s*", ":", spec.strip())) if token]
    if not tokens:
        raise InvalidStyleSpecError(f"No style given. {_SPEC_HINT}.")
    merged: dict[str, float] = {}
    for token in tokens:
        name, weight = _parse_token(token)
        merged[name] = merged.get(name, 0.0) + weight  # dicts keep first-seen order
    if len(merged) > MAX_STYLES:
        raise InvalidStyleSpecError(
            f"At most {MAX_STYLES} styles can be mixed, but {len(merged)} were given. {_SPEC_HINT}."
        )
    return list(merged.items())


class PresetLibrary:
    """The presets in one directory; every call re-reads the directory, so other processes' changes show."""

    def __init__(self, styles_dir: str | os.PathLike[str]) -> None:
        self.styles_dir = Path(styles_dir)
        self._warned: set[str] = set()

    def all(self) -> list[Preset]:
        """Every preset, sorted by name."""
        presets = self._scan()
        return [presets[name] for name in sorted(presets)]

    def names(self) -> list[str]:
        """The names of every preset, sorted."""
        return sorted(self._scan())

    def __contains__(self, name: object) -> bool:
        """Whether a preset has this name (case-insensitive)."""
        return isinstance(name, str) and name.strip().lower() in self._scan()

    def get(self, name: str) -> Preset:
        """The preset called `name` (case-insensitive), or UnknownPresetError listing the others."""
        return _lookup(self._scan(), name)

    def find(self, name: str) -> Preset | None:
        """A preset by name, or None (e.g. removed since a job started)."""
        try:
            return self.get(name)
        except PresetError:
            return None

    def add(
        self,
        name: str,
        image_bytes: bytes | bytearray | memoryview,
        *,
        title: str | None = None,
        artist: str | None = None,
        year: str | int | None = None,
    ) -> Preset:
        """Store an image as preset `name` (replacing any of that name) and record its metadata."""
        key = name.strip().lower()
        if not is_valid_name(key):
            raise InvalidPresetNameError(name)
        image = load_image(image_bytes)  # raises InvalidImageError with a message for the user
        if max(image.size) > MAX_PRESET_SIDE:
            image = fit_longest_side(image, MAX_PRESET_SIDE)
        data = encode_image(image, "jpeg", quality=_PRESET_QUALITY)
        meta = _clean_meta({"title": title, "artist": artist, "year": year})
        target = self.styles_dir / f"{key}.jpg"
        with self._locked():
            _atomic_write(target, data)
            for other in self._files_named(key):
                if other != target:  # a .png or .webp of the same name would shadow nothing but confuse
                    other.unlink(missing_ok=True)
            self._drop_thumbnails(key)
            self._update_manifest(key, meta)
        logger.info("stored preset %s (%dx%d) in %s", key, *image.size, target)
        return _make_preset(key, target, meta)

    def remove(self, name: str) -> None:
        """Delete preset `name`: its image, thumbnails and manifest entry; UnknownPresetError if missing."""
        key = name.strip().lower()
        if not self._files_named(key):
            raise UnknownPresetError(name.strip(), self.names())
        with self._locked():
            for path in self._files_named(key):
                path.unlink(missing_ok=True)
            self._drop_thumbnails(key)
            self._update_manifest(key, {})
        logger.info("removed preset %s from %s", key, self.styles_dir)

    def thumbnail(self, name: str, side: int = THUMBNAIL_SIDE) -> bytes:
        """A JPEG of the preset at most `side` px long, cached under .thumbs/ until the source changes."""
        if side < 1:
            raise ValueError(f"thumbnail side must be at least 1 px, got {side}")
        preset = self.get(name)
        cache = self._thumbnail_path(preset.name, side)
        source_mtime = preset.path.stat().st_mtime_ns
        # The cache carries its source's mtime, so any change to the source (newer or restored) shows.
        with contextlib.suppress(OSError):
            if cache.stat().st_mtime_ns == source_mtime:
                return cache.read_bytes()
        image = load_image(preset.path)
        if max(image.size) > side:
            image = fit_longest_side(image, side)
        data = encode_image(image, "jpeg", quality=_THUMBNAIL_QUALITY)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(cache, data, mtime_ns=source_mtime)
        except OSError as exc:  # a read-only styles directory still gets its thumbnails, just uncached
            logger.warning("cannot cache thumbnail %s: %s", cache, exc)
        return data

    def parse_spec(self, spec: str) -> list[tuple[Preset, float]]:
        """Parse 'starry_night', 'starry_night:0.7 the_scream:0.3' or a comma list into (preset, weight)."""
        wanted = parse_weights(spec)
        presets = self._scan()
        return [(_lookup(presets, name), weight) for name, weight in wanted]

    def _scan(self) -> dict[str, Preset]:
        """Every preset in the directory now, by name."""
        manifest = self._read_manifest()
        return {name: _make_preset(name, path, manifest.get(name, {})) for name, path in self._image_files().items()}

    def _image_files(self) -> dict[str, Path]:
        """The image file of each valid preset name; invalid stems are logged once and skipped."""
        try:
            entries = list(os.scandir(self.styles_dir))
        except FileNotFoundError:
            return {}
        found: dict[str, Path] = {}
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue  # temporary files, .thumbs, the manifest, notes...
            if not _is_file(entry):
                continue
            if not is_valid_name(path.stem):
                self._warn_once(f"ignoring style image {path}: its name must be {NAME_RULE}")
                continue
            current = found.get(path.stem)
            if current is not None:
                self._warn_once(f"several images named {path.stem} in {self.styles_dir}; using one")
            if current is None or _preference(path) < _preference(current):
                found[path.stem] = path
        return found

    def _files_named(self, key: str) -> list[Path]:
        """Every image file whose stem is exactly `key`, whatever the suffix's case."""
        if not is_valid_name(key) or not self.styles_dir.is_dir():
            return []
        return sorted(
            path
            for path in self.styles_dir.glob(f"{key}.*")
            if path.stem == key and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        )

    def _read_manifest(self) -> dict[str, dict[str, str]]:
        """The manifest's usable entries by lower-cased name; a broken manifest is logged and ignored."""
        raw = self._load_manifest()
        if raw is None:
            return {}
        result: dict[str, dict[str, str]] = {}
        for key, value in raw.items():
            if isinstance(value, dict):
                result[str(key).strip().lower()] = _clean_meta(value)
            else:
                self._warn_once(f"ignoring manifest entry {key!r}: expected an object with title/artist/year")
        return result

    def _load_manifest(self) -> dict[str, Any] | None:
        """The manifest as a dict: {} when absent, None when unreadable or not a JSON object."""
        path = self.styles_dir / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._warn_once(f"ignoring unreadable {path}: {exc}")
            return None
        if not isinstance(data, dict):
            self._warn_once(f"ignoring {path}: expected a JSON object of name -> details")
            return None
        return data

    def _update_manifest(self, key: str, meta: dict[str, str]) -> None:
        """Set (or with empty meta, drop) one manifest entry; call with the lock held."""
        path = self.styles_dir / MANIFEST_NAME
        current = self._load_manifest()
        if current is None:
            # Keep the broken file for whoever hand-edited it instead of silently overwriting their work.
            backup = path.with_name(MANIFEST_NAME + ".bad")
            logger.warning("manifest %s is unreadable; moving it to %s and starting afresh", path, backup)
            os.replace(path, backup)
            current = {}
        changed = False
        for existing in [k for k in current if str(k).strip().lower() == key]:
            del current[existing]
            changed = True
        if meta:
            current[key] = meta
            changed = True
        if changed:
            text = json.dumps(current, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
            _atomic_write(path, text.encode("utf-8"))

    def _thumbnail_path(self, key: str, side: int) -> Path:
        """Where the thumbnail of `key` at `side` px is cached; the default size gets the plain name."""
        filename = f"{key}.jpg" if side == THUMBNAIL_SIDE else f"{key}.{side}.jpg"
        return self.styles_dir / THUMBS_DIR / filename

    def _drop_thumbnails(self, key: str) -> None:
        """Delete every cached thumbnail of `key`, so a replaced image never shows its old picture."""
        thumbs = self.styles_dir / THUMBS_DIR
        if thumbs.is_dir():
            for path in thumbs.glob(f"{key}.*"):
                if path.name.split(".", 1)[0] == key:
                    path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the library's write lock, across threads and (where flock exists) processes."""
        self.styles_dir.mkdir(parents=True, exist_ok=True)
        with _THREAD_LOCK:
            if sys.platform == "win32":
                yield
                return
            with (self.styles_dir / _LOCK_NAME).open("a+b") as lock_file:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)  # released when the file closes
                yield

    def _warn_once(self, message: str) -> None:
        """Log a warning the first time this library meets it; rescans would otherwise repeat it."""
        if message not in self._warned:
            self._warned.add(message)
            logger.warning("%s", message)


def _parse_token(token: str) -> tuple[str, float]:
    """One 'name' or 'name:weight' token as (lower-cased name, weight)."""
    name, sep, weight_text = token.partition(":")
    if not name:
        raise InvalidStyleSpecError(f"'{_shorten(token)}' has a weight but no style name. {_SPEC_HINT}.")
    if not sep:
        if "." in name and _WEIGHT_PATTERN.fullmatch(name):
            raise InvalidStyleSpecError(
                f"'{name}' looks like a weight: put it after a style name and a colon. {_SPEC_HINT}."
            )
        return name.lower(), 1.0
    weight = float(weight_text) if _WEIGHT_PATTERN.fullmatch(weight_text) else math.nan
    if not (math.isfinite(weight) and weight > 0):
        raise InvalidStyleSpecError(
            f"'{_shorten(weight_text)}' is not a valid weight for {_shorten(name)}: "
            f"weights are numbers above 0. {_SPEC_HINT}."
        )
    return name.lower(), weight


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether a directory entry is a regular file (following links); False when it cannot be checked."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _lookup(presets: dict[str, Preset], name: str) -> Preset:
    """The preset called `name` (case-insensitive) among `presets`, or UnknownPresetError."""
    preset = presets.get(name.strip().lower())
    if preset is None:
        raise UnknownPresetError(name.strip(), sorted(presets))
    return preset


def _make_preset(name: str, path: Path, meta: dict[str, str]) -> Preset:
    """A Preset from its file and manifest details, with the default title when none is recorded."""
    return Preset(
        name=name,
        path=path,
        title=meta.get("title") or default_title(name),
        artist=meta.get("artist"),
        year=meta.get("year"),
    )


def _clean_meta(raw: dict[str, Any]) -> dict[str, str]:
    """The title/artist/year of a manifest entry as non-empty strings; other keys and blanks dropped."""
    meta: dict[str, str] = {}
    for field in META_FIELDS:
        value = raw.get(field)
        if value is not None and str(value).strip():
            meta[field] = str(value).strip()
    return meta


def _preference(path: Path) -> tuple[int, str]:
    """Sort key choosing among files of one name: the preferred suffix first, then the file name."""
    return IMAGE_SUFFIXES.index(path.suffix.lower()), path.name


def _unknown_message(name: str, available: Sequence[str]) -> str:
    """The user-facing text of UnknownPresetError."""
    if not available:
        return f"Unknown style '{_shorten(name)}'. No preset styles are installed yet."
    return f"Unknown style '{_shorten(name)}'. Available: {', '.join(available)} — see /styles."


def _shorten(text: str) -> str:
    """User text cut to a length fit to echo back in a message."""
    return text if len(text) <= _SHOWN_NAME_CHARS else text[: _SHOWN_NAME_CHARS - 1] + "…"


def _atomic_write(path: Path, data: bytes, *, mtime_ns: int | None = None) -> None:
    """Write `data` beside `path` under a temporary name, then rename it over `path`: no half-files."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes 0600 files; the bot may run as another user than the one who added the preset.
        os.chmod(tmp_name, 0o644)
        if mtime_ns is not None:
            os.utime(tmp_name, ns=(mtime_ns, mtime_ns))
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
