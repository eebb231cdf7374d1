"""Matching painting names as people type them: normalisation, an index of names/titles/artists, suggestions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

# Lower-case inside a title ("Nantes from the Ile Feydeau", "Vincent van Gogh").
SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
    | {"da", "de", "del", "della", "der", "des", "di", "du", "van", "von"}
)
# Words that belong to the family name after them: "van Gogh", "de La Tour".
_PARTICLES = frozenset(("da", "de", "del", "della", "der", "des", "di", "du", "la", "le", "ten", "ter", "van", "von"))
_ARTICLES = ("the", "a", "an", "la", "le", "les", "der", "die", "das")
_SEPARATORS = re.compile(r"[\W_]+")
# Below this similarity a typed name is "something else", not a typo (difflib ratio, 0..1).
SUGGESTION_CUTOFF = 0.7
# A second suggestion is offered only when it is about as close as the first.
_SECOND_SUGGESTION_GAP = 0.1
# A typed fragment of at least this many letters that starts a word of a key counts as close.
_MIN_PREFIX = 4
_PREFIX_SCORE = 0.8

# What a key was made from; on a clash between presets the more specific kind wins.
NAME, TITLE, ARTIST = 0, 1, 2


def normalize(text: str) -> str:
    """Case, accents, spaces, underscores, hyphens and punctuation folded away: 'Starry_Night' -> 'starry night'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_SEPARATORS.sub(" ", bare.casefold()).split())


def name_key(text: str) -> str:
    """The preset name a typed name stands for, by normalisation alone: 'Starry Night' -> 'starry_night'."""
    return normalize(text).replace(" ", "_")


def _without_article(key: str) -> str | None:
    """The key without a leading article ('the scream' -> 'scream'), or None when it has none."""
    first, _, rest = key.partition(" ")
    return rest if first in _ARTICLES and rest else None


def _artist_keys(artist: str) -> list[str]:
    """An artist's full name, family name with particles and last word: 'vincent van gogh', 'van gogh', 'gogh'."""
    words = normalize(artist).split()
    if not words:
        return []
    start = len(words) - 1
    while start > 0 and words[start - 1] in _PARTICLES:
        start -= 1
    return list(dict.fromkeys([" ".join(words), " ".join(words[start:]), words[-1]]))


@dataclass(frozen=True)
class Entry:
    """What the index knows of one preset: its name, title and artist."""

    name: str
    title: str
    artist: str | None = None


class NameIndex:
    """Normalised names, titles and artists of presets, each mapped to the presets it may mean."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._keys: dict[str, tuple[int, set[str]]] = {}
        self._by_preset: dict[str, list[str]] = {}
        for entry in entries:
            for kind, key in self._keys_of(entry):
                self._add(key, kind, entry.name)
        self.longest = max((len(key.split()) for key in self._keys), default=0)

    def resolve(self, text: str) -> list[str]:
        """The preset names `text` may mean, sorted: none, one, or several (an artist with two paintings)."""
        typed = normalize(text)
        found = self._keys.get(typed)
        bare = _without_article(typed)
        if found is None and bare:  # "the great wave": people add the article the name leaves out
            found = self._keys.get(bare)
        return sorted(found[1]) if found else []

    def suggest(self, text: str, limit: int = 2) -> list[str]:
        """The one or two preset names closest to `text` (a typo, a fragment), best first; [] when none is close."""
        typed = normalize(text)
        if not typed:
            return []
        scored = sorted(
            ((max(_similarity(typed, key) for key in keys), name) for name, keys in self._by_preset.items()),
            key=lambda pair: (-pair[0], pair[1]),
        )
        close = [(score, name) for score, name in scored if score >= SUGGESTION_CUTOFF]
        if not close:
            return []
        best = close[0][0]
        return [name for score, name in close[:limit] if best - score <= _SECOND_SUGGESTION_GAP]

    def _add(self, key: str, kind: int, name: str) -> None:
        """Map `key` to preset `name`, unless a more specific kind of key already claims it for others."""
        if not key:
            return
        self._by_preset.setdefault(name, [])
        if key not in self._by_preset[name]:
            self._by_preset[name].append(key)
        current = self._keys.get(key)
        if current is None or kind < current[0]:
            self._keys[key] = (kind, {name})
        elif kind == current[0]:
            current[1].add(name)

    @staticmethod
    def _keys_of(entry: Entry) -> list[tuple[int, str]]:
        """Every (kind, key) of a preset; a name or title without its article ('scream') counts as a title."""
        keys: list[tuple[int, str]] = []
        for kind, text in ((NAME, entry.name), (TITLE, entry.title)):
            key = normalize(text)
            keys.append((kind, key))
            bare = _without_article(key)
            if bare:
                keys.append((TITLE, bare))
        if entry.artist:
            keys.extend((ARTIST, key) for key in _artist_keys(entry.artist))
        return keys


def _similarity(typed: str, key: str) -> float:
    """How close a typed name is to a key, 0..1: difflib's ratio, or a fixed score for a word prefix."""
    score = SequenceMatcher(None, typed, key).ratio()
    if len(typed) >= _MIN_PREFIX and (key.startswith(typed) or f" {typed}" in key):
        score = max(score, _PREFIX_SCORE)
    return score
