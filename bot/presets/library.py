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
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import StyleMissingError
from bot.presets.names import SMALL_WORDS, Entry, NameIndex, name_key, normalize
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

MAX_WEIGHT = 100.0
_SPEC_HINT = "Use names with optional weights, like starry_night:0.7 the_scream:0.3"
# Plain decimals only: float() would also take "nan", "inf", "1e3" and "1_0".
_WEIGHT_PATTERN = re.compile(r"\d+(?:\.\d*)?|\.\d+")
# Between styles of a blend: these always separate; whitespace separates only where no longer name matches.
_STYLE_SEPARATORS = re.compile(r"[,;+]")
# Roman numerals up to 39 (I..XXXIX): enough for "Composition VII" or "Louis XIV" without catching "mix" or "di".
_ROMAN_NUMERAL = re.compile(r"(?=[ivx])x{0,3}(?:ix|iv|v?i{0,3})")
_SHOWN_NAME_CHARS = 40
_PRESET_QUALITY = 95
RACY_NS = 2_000_000_000  # a folder changed this recently may change again within the same timestamp
_THUMBNAIL_QUALITY = 85
_LOCK_NAME = ".lock"
# flock already excludes other processes; this covers threads where flock is unavailable.
_THREAD_LOCK = threading.Lock()


class PresetError(Exception):
    """Base class of the preset library's errors; str(error) is fit to show a user."""


class UnknownPresetError(PresetError, StyleMissingError):
    """No preset has the requested name; `suggestions` holds the one or two closest preset names, if any."""

    def __init__(
        self,
        name: str,
        suggestions: Sequence[str] = (),
        *,
        titles: dict[str, str] | None = None,
        installed: bool = True,
    ) -> None:
        self.name = name
        self.shown_name = _shorten(name)  # as messages quote it
        self.installed = installed
        self.suggestions = list(suggestions)
        # Preset name -> title of each suggestion, for messages and button labels.
        self.titles = {n: (titles or {}).get(n) or default_title(n) for n in self.suggestions}
        super().__init__(self._message(installed))

    def _message(self, installed: bool) -> str:
        """The user-facing text."""
        if not installed:
            return f"Unknown style '{_shorten(self.name)}'. No preset styles are installed yet."
        if not self.suggestions:
            return f"Unknown style '{_shorten(self.name)}'. See /styles for the paintings."
        return f"Unknown style '{_shorten(self.name)}'. {self._did_you_mean()}"

    def _did_you_mean(self) -> str:
        """'Did you mean The Starry Night or The Scream?'"""
        titles = [self.titles[n] for n in self.suggestions]
        listed = titles[0] if len(titles) == 1 else f"{', '.join(titles[:-1])} or {titles[-1]}"
        return f"Did you mean {listed}?"


class AmbiguousPresetError(UnknownPresetError):
    """A name matches several presets (an artist with two paintings); `suggestions` holds all of them."""

    def _message(self, installed: bool) -> str:
        """The user-facing text."""
        return f"'{_shorten(self.name)}' matches several paintings. {self._did_you_mean()}"


class InvalidPresetNameError(PresetError, ValueError):
    """A name for a new preset breaks the naming rule."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.shown_name = _shorten(name)  # as messages quote it
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
    """A title made from a preset name: 'composition_vii' -> 'Composition VII', 'view_of_delft' -> 'View of Delft'."""
    words = [word for word in name.split("_") if word]
    titled = []
    for position, word in enumerate(words):
        if _ROMAN_NUMERAL.fullmatch(word):
            titled.append(word.upper())
        elif position > 0 and word in SMALL_WORDS:
            titled.append(word)
        else:
            titled.append(word[:1].upper() + word[1:])
    return " ".join(titled) or name


def split_spec(spec: str) -> list[list[tuple[str, float | None]]]:
    """The runs of words of a style spec, each word with the weight written after it (see parse_spec)."""
    text = re.sub(r"\s*:\s*", ":", spec.strip())
    runs: list[list[tuple[str, float | None]]] = []
    for segment in _STYLE_SEPARATORS.split(text):
        run: list[tuple[str, float | None]] = []
        for token in segment.split():
            word, weight = _parse_token(token)
            if not normalize(word):  # a lone "-" or "&" between names
                if weight is None:
                    continue
                raise InvalidStyleSpecError(f"'{_shorten(token)}' has a weight but no style name. {_SPEC_HINT}.")
            run.append((word, weight))
            if weight is not None:  # a weight ends a name: what follows starts the next style
                runs.append(run)
                run = []
        if run:
            runs.append(run)
    if not runs:
        raise InvalidStyleSpecError(f"No style given. {_SPEC_HINT}.")
    return runs


class PresetLibrary:
    """The presets in one directory; a change to it (by another process too) shows on the next call."""

    def __init__(self, styles_dir: str | os.PathLike[str]) -> None:
        self.styles_dir = Path(styles_dir)
        self._warned: set[str] = set()
        self._cache: tuple[tuple[int, int | None], dict[str, Preset], NameIndex] | None = None

    def all(self) -> list[Preset]:
        """Every preset, sorted by name."""
        presets = self._scan()
        return [presets[name] for name in sorted(presets)]

    def names(self) -> list[str]:
        """The names of every preset, sorted."""
        return sorted(self._scan())

    def __contains__(self, name: object) -> bool:
        """Whether a preset has this name, spelt any way ('Starry Night'); titles and artists do not count."""
        return isinstance(name, str) and name_key(name) in self._scan()

    def get(self, name: str) -> Preset:
        """The preset `name` means (a name, title or artist, typed any way), else Unknown/AmbiguousPresetError."""
        presets, index = self._indexed()
        return _lookup(presets, index, name)

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
        key = name_key(name)
        if not self._files_named(key):
            presets = self._scan()  # names only: deleting by an artist's name would be a surprise
            raise _unknown(presets, _index(presets), name.strip())
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
        """The (preset, weight) pairs of a style spec, in order, repeats merged.

        Grammar (after `\\s*:\\s*` is tightened to `:`)::

            spec    := segment (("," | ";" | "+") segment)*
            segment := word+                       words split on whitespace
            word    := text [":" weight]           a weight ends the name it follows
            weight  := decimal above 0             "0.7", ".5", "3." -- not "1e3", "nan" or "1_0"

        Each run of words up to a weighted word (or the segment's end) is split into names greedily:
        from the first word on, the longest stretch of consecutive words that names a preset is taken
        (a name, title or artist; case, accents, "_", "-" and spaces do not matter), then the rest.
        The run's weight goes to its last name; every other name weighs 1. So "starry night:0.7 the
        scream:0.3", "Starry_Night, The Scream" and "starry night + munch" all work, while words that
        start no name ("hello there") raise UnknownPresetError with the closest presets as suggestions,
        and an artist with several paintings raises AmbiguousPresetError offering each of them.
        """
        presets, index = self._indexed()
        merged: dict[str, float] = {}
        for run in split_spec(spec):
            words = [word for word, _ in run]
            names = _segment(presets, index, words)
            weight = run[-1][1]
            for position, name in enumerate(names):
                share = weight if weight is not None and position == len(names) - 1 else 1.0
                merged[name] = merged.get(name, 0.0) + share  # dicts keep first-seen order
        if len(merged) > MAX_STYLES:
            raise InvalidStyleSpecError(
                f"At most {MAX_STYLES} styles can be mixed, but {len(merged)} were given. {_SPEC_HINT}."
            )
        return [(presets[name], weight) for name, weight in merged.items()]

    def _scan(self) -> dict[str, Preset]:
        """Every preset in the directory now, by name."""
        return self._indexed()[0]

    def _indexed(self) -> tuple[dict[str, Preset], NameIndex]:
        """The presets and their name index, read again only when the folder or the manifest changed.

        Reading the folder on every caption costs milliseconds on the event loop; two stat calls do not. A
        change within the file system's timestamp granularity of the last read could hide behind an equal
        mtime, so a read made while the folder was that fresh is not trusted (as git treats "racy" files).
        """
        stamp = self._stamp()
        cached = self._cache
        if cached is not None and stamp is not None and cached[0] == stamp:
            return cached[1], cached[2]
        now_ns = time.time_ns()
        manifest = self._read_manifest()
        files = self._image_files()
        presets = {name: _make_preset(name, path, manifest.get(name, {})) for name, path in files.items()}
        index = _index(presets)
        settled = stamp is not None and all(now_ns - t > RACY_NS for t in stamp if t is not None)
        self._cache = (stamp, presets, index) if stamp is not None and settled else None
        return presets, index

    def _stamp(self) -> tuple[int, int | None] | None:
        """The modification times of the folder and the manifest (None for a missing manifest); None: no folder."""
        try:
            folder = self.styles_dir.stat().st_mtime_ns
        except OSError:
            return None
        try:
            manifest: int | None = (self.styles_dir / MANIFEST_NAME).stat().st_mtime_ns
        except OSError:
            manifest = None
        return folder, manifest

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


def _parse_token(token: str) -> tuple[str, float | None]:
    """One 'word' or 'word:weight' token as (word, weight or None)."""
    name, sep, weight_text = token.partition(":")
    if not name:
        raise InvalidStyleSpecError(f"'{_shorten(token)}' has a weight but no style name. {_SPEC_HINT}.")
    if not sep:
        if "." in name and _WEIGHT_PATTERN.fullmatch(name):
            raise InvalidStyleSpecError(
                f"'{name}' looks like a weight: put it after a style name and a colon. {_SPEC_HINT}."
            )
        return name, None
    weight = float(weight_text) if _WEIGHT_PATTERN.fullmatch(weight_text) else math.nan
    # Weights are relative shares: a bound keeps sums finite (a 308-digit weight would overflow to inf).
    if not (math.isfinite(weight) and 0 < weight <= MAX_WEIGHT):
        raise InvalidStyleSpecError(
            f"'{_shorten(weight_text)}' is not a valid weight for {_shorten(name)}: "
            f"weights are numbers above 0 and at most {MAX_WEIGHT:g}. {_SPEC_HINT}."
        )
    return name, weight


def _is_file(entry: os.DirEntry[str]) -> bool:
    """Whether a directory entry is a regular file (following links); False when it cannot be checked."""
    try:
        return entry.is_file()
    except OSError:
        return False


def _index(presets: dict[str, Preset]) -> NameIndex:
    """The name index of `presets`: names, titles and artists."""
    return NameIndex(Entry(p.name, p.title, p.artist) for p in presets.values())


def _lookup(presets: dict[str, Preset], index: NameIndex, name: str) -> Preset:
    """The one preset `name` means, or Unknown/AmbiguousPresetError."""
    found = index.resolve(name)
    if len(found) > 1:
        raise AmbiguousPresetError(name.strip(), found, titles=_titles(presets, found))
    if not found:
        raise _unknown(presets, index, name.strip())
    return presets[found[0]]


def _segment(presets: dict[str, Preset], index: NameIndex, words: list[str]) -> list[str]:
    """Split consecutive words into preset names, longest match first (see PresetLibrary.parse_spec)."""
    names: list[str] = []
    start = 0
    while start < len(words):
        end = _longest_match(index, words, start)
        if end is None:
            # Report the whole stretch up to where a known name starts again: "stary night", not "stary".
            stop = next((k for k in range(start + 1, len(words)) if _longest_match(index, words, k)), len(words))
            raise _unknown(presets, index, " ".join(words[start:stop]))
        names.append(_lookup(presets, index, " ".join(words[start:end])).name)
        start = end
    return names


def _longest_match(index: NameIndex, words: list[str], start: int) -> int | None:
    """The end of the longest stretch words[start:end] that is a key of the index, or None."""
    for end in range(min(len(words), start + index.longest), start, -1):
        if index.resolve(" ".join(words[start:end])):
            return end
    return None


def _unknown(presets: dict[str, Preset], index: NameIndex, name: str) -> UnknownPresetError:
    """UnknownPresetError for `name`, with the closest presets as suggestions."""
    suggestions = index.suggest(name)
    return UnknownPresetError(name, suggestions, titles=_titles(presets, suggestions), installed=bool(presets))


def _titles(presets: dict[str, Preset], names: Sequence[str]) -> dict[str, str]:
    """The titles of some presets by name."""
    return {name: presets[name].title for name in names}


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
