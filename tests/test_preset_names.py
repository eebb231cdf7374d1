"""Names as people type them: the matcher behind PresetLibrary.get and parse_spec, on a real styles directory."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from bot.presets.library import (
    AmbiguousPresetError,
    InvalidStyleSpecError,
    PresetLibrary,
    UnknownPresetError,
    split_spec,
)
from bot.presets.names import Entry, NameIndex, name_key, normalize

MANIFEST = {
    "starry_night": {"title": "The Starry Night", "artist": "Vincent van Gogh", "year": "1889"},
    "cafe_terrace": {"title": "Café Terrace at Night", "artist": "Vincent van Gogh", "year": "1888"},
    "the_scream": {"title": "The Scream", "artist": "Edvard Munch", "year": "1893"},
    "great_wave": {"title": "The Great Wave off Kanagawa", "artist": "Katsushika Hokusai"},
    "nantes": {"title": "Nantes from the Ile Feydeau", "artist": "J. M. W. Turner", "year": "1829"},
    # composition_vii has no manifest entry: its title comes from its name.
}


@pytest.fixture
def library(tmp_path: Path) -> PresetLibrary:
    """Six presets, five with manifest details, Van Gogh twice."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 60, 30)).save(buffer, "JPEG")
    for name in (*MANIFEST, "composition_vii"):
        (tmp_path / f"{name}.jpg").write_bytes(buffer.getvalue())
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST, ensure_ascii=False))
    return PresetLibrary(tmp_path)


def names(library: PresetLibrary, spec: str) -> list[tuple[str, float]]:
    """parse_spec as (name, weight) pairs."""
    return [(preset.name, weight) for preset, weight in library.parse_spec(spec)]


# --- normalisation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("Starry Night", "starry night"),
        ("starry-night", "starry night"),
        ("STARRY_NIGHT", "starry night"),
        ("  starry   night ", "starry night"),
        ("Café Terrace", "cafe terrace"),
        ("J. M. W. Turner", "j m w turner"),
        ("Straße", "strasse"),
        ("—", ""),
    ],
)
def test_normalize(typed: str, normal: str) -> None:
    assert normalize(typed) == normal


def test_name_key() -> None:
    assert name_key("Starry Night") == name_key("starry-night") == "starry_night"


# --- one name -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("Starry Night", "starry_night"),
        ("starry-night", "starry_night"),
        ("STARRY_NIGHT", "starry_night"),
        ("the starry night", "starry_night"),
        ("Composition VII", "composition_vii"),
        ("composition-vii", "composition_vii"),
        ("the scream", "the_scream"),
        ("Scream", "the_scream"),
        ("munch", "the_scream"),
        ("Edvard Munch", "the_scream"),
        ("hokusai", "great_wave"),
        ("the great wave off kanagawa", "great_wave"),
        ("The Great Wave", "great_wave"),  # an article the name leaves out
        ("a great wave", "great_wave"),
        ("Cafe terrace at night", "cafe_terrace"),
        ("CAFÉ TERRACE", "cafe_terrace"),
        ("Nantes from the Île Feydeau", "nantes"),
        ("turner", "nantes"),
        ("J.M.W. Turner", "nantes"),
    ],
)
def test_get_matches_names_titles_and_artists_typed_any_way(library: PresetLibrary, typed: str, name: str) -> None:
    assert library.get(typed).name == name
    assert names(library, typed) == [(name, 1.0)]


@pytest.mark.parametrize("typed", ["van gogh", "Vincent van Gogh", "Gogh"])
def test_an_artist_with_two_paintings_is_ambiguous_and_offers_both(library: PresetLibrary, typed: str) -> None:
    with pytest.raises(AmbiguousPresetError) as caught:
        library.get(typed)
    assert caught.value.suggestions == ["cafe_terrace", "starry_night"]
    assert str(caught.value) == (
        f"'{typed}' matches several paintings. Did you mean Café Terrace at Night or The Starry Night?"
    )
    assert isinstance(caught.value, UnknownPresetError)  # callers handling unknown names handle this too
    with pytest.raises(AmbiguousPresetError):
        library.parse_spec(f"{typed}:0.5 the scream:0.5")


def test_a_name_beats_a_title_or_an_artist(library: PresetLibrary) -> None:
    library.add("munch", png_bytes())
    assert library.get("munch").name == "munch"
    assert library.get("edvard munch").name == "the_scream"


def png_bytes() -> bytes:
    """A small encoded image."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "PNG")
    return buffer.getvalue()


def test_contains_takes_names_only(library: PresetLibrary) -> None:
    assert "Starry Night" in library
    assert "starry-night" in library
    assert "munch" not in library  # an artist is not a preset's name: fetch-styles must not skip by it
    assert 42 not in library


def test_remove_accepts_a_name_typed_any_way_but_not_an_artist(library: PresetLibrary) -> None:
    with pytest.raises(UnknownPresetError):
        library.remove("munch")
    library.remove("The Scream")
    assert "the_scream" not in library


# --- unknown names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "suggestions", "message"),
    [
        ("stary_night", ["starry_night"], "Did you mean The Starry Night?"),
        ("Stary Nite", ["starry_night"], "Did you mean The Starry Night?"),
        ("starry", ["starry_night"], "Did you mean The Starry Night?"),
        ("scraem", ["the_scream"], "Did you mean The Scream?"),
        ("composition 7", ["composition_vii"], "Did you mean Composition VII?"),
        ("grate wave", ["great_wave"], "Did you mean The Great Wave off Kanagawa?"),
        ("night", ["cafe_terrace", "starry_night"], "Did you mean Café Terrace at Night or The Starry Night?"),
    ],
)
def test_unknown_names_suggest_the_closest_one_or_two(
    library: PresetLibrary, typed: str, suggestions: list[str], message: str
) -> None:
    with pytest.raises(UnknownPresetError) as caught:
        library.get(typed)
    assert caught.value.suggestions == suggestions
    assert str(caught.value) == f"Unknown style '{typed}'. {message}"
    assert not isinstance(caught.value, AmbiguousPresetError)


@pytest.mark.parametrize("typed", ["hello there", "thanks!", "the", "wow", "Mona Lisa", "ok 👍", "1234"])
def test_plain_text_matches_nothing_and_suggests_nothing(library: PresetLibrary, typed: str) -> None:
    with pytest.raises(UnknownPresetError) as caught:
        library.parse_spec(typed)
    assert caught.value.suggestions == []
    assert str(caught.value).endswith("See /styles for the paintings.")
    assert "great_wave" not in str(caught.value)  # never the whole list


def test_an_unknown_word_among_known_names_is_reported_alone(library: PresetLibrary) -> None:
    with pytest.raises(UnknownPresetError) as caught:
        library.parse_spec("starry night:0.5 mona lisa:0.5")
    assert caught.value.name == "mona lisa"
    with pytest.raises(UnknownPresetError) as caught:
        library.parse_spec("i like starry night")
    assert caught.value.name == "i like"  # up to where a known name starts


def test_suggestions_name_presets_by_their_labels_when_untitled(library: PresetLibrary) -> None:
    with pytest.raises(UnknownPresetError) as caught:
        library.get("composition_vi")
    assert caught.value.titles == {"composition_vii": "Composition VII"}


def test_unknown_in_an_empty_library(tmp_path: Path) -> None:
    with pytest.raises(UnknownPresetError, match="No preset styles are installed yet") as caught:
        PresetLibrary(tmp_path).parse_spec("starry night")
    assert caught.value.suggestions == []


# --- blends -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("starry night:0.7 the scream:0.3", [("starry_night", 0.7), ("the_scream", 0.3)]),
        ("Starry Night : 0.7, The Scream : 0.3", [("starry_night", 0.7), ("the_scream", 0.3)]),
        ("starry_night:0.7 the_scream:0.3", [("starry_night", 0.7), ("the_scream", 0.3)]),
        ("starry night the scream", [("starry_night", 1.0), ("the_scream", 1.0)]),
        ("starry night + munch", [("starry_night", 1.0), ("the_scream", 1.0)]),
        ("starry night+munch", [("starry_night", 1.0), ("the_scream", 1.0)]),
        ("starry night - the scream", [("starry_night", 1.0), ("the_scream", 1.0)]),
        ("munch hokusai:2", [("the_scream", 1.0), ("great_wave", 2.0)]),
        ("the scream composition vii:0.5", [("the_scream", 1.0), ("composition_vii", 0.5)]),
        ("hokusai; turner", [("great_wave", 1.0), ("nantes", 1.0)]),
        ("the great wave off kanagawa:1 scream:1", [("great_wave", 1.0), ("the_scream", 1.0)]),
        ("starry night:0.5 the starry night:0.25", [("starry_night", 0.75)]),
        ("scream munch:.5", [("the_scream", 1.5)]),
        ("cafe terrace at night starry night", [("cafe_terrace", 1.0), ("starry_night", 1.0)]),
    ],
)
def test_blends_of_multi_word_names(library: PresetLibrary, spec: str, expected: list[tuple[str, float]]) -> None:
    assert names(library, spec) == expected


def test_the_longest_match_wins(library: PresetLibrary) -> None:
    # With a preset named "the": "the scream" is longer than "the"; "the starry night" than "starry night".
    library.add("the", png_bytes())
    assert names(library, "the scream") == [("the_scream", 1.0)]
    assert names(library, "the starry night") == [("starry_night", 1.0)]
    assert names(library, "the scream the") == [("the_scream", 1.0), ("the", 1.0)]
    # An article before a name is what people add, not a painting of its own.
    assert names(library, "the the scream") == [("the_scream", 1.0)]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("starry night 0.7", "'0.7' looks like a weight"),
        ("starry night:0", "'0' is not a valid weight for night"),
        ("- :0.5", "has a weight but no style name"),
        ("starry night:0.5:1", "'0.5:1' is not a valid weight"),
        (" + , ", "No style given"),
    ],
)
def test_bad_blends(library: PresetLibrary, spec: str, fragment: str) -> None:
    with pytest.raises(InvalidStyleSpecError, match=fragment):
        library.parse_spec(spec)


def test_split_spec_runs_end_at_weights() -> None:
    assert split_spec("starry night:0.7 the scream, munch") == [
        [("starry", None), ("night", 0.7)],
        [("the", None), ("scream", None)],
        [("munch", None)],
    ]


# --- the index on its own -----------------------------------------------------------------------------------


def test_index_resolves_and_suggests_without_a_directory() -> None:
    index = NameIndex([Entry("a_b", "Alpha Beta", "Ann Example"), Entry("c", "Gamma", "Ann Example")])
    assert index.resolve("A-B") == ["a_b"]
    assert index.resolve("alpha beta") == ["a_b"]
    assert index.resolve("example") == ["a_b", "c"]
    assert index.resolve("nothing") == []
    assert index.suggest("gama") == ["c"]
    assert index.suggest("") == []
    assert index.longest == 2
