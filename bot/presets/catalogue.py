"""The default preset catalogue: public-domain paintings and where to download them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogueEntry:
    """One built-in preset: its name, the artwork it shows and a Wikimedia Commons URL for it."""

    name: str
    title: str
    artist: str
    year: str
    url: str


# Copied from ../shared/presets.md (the package never reads ../shared at run time). Every work is in
# the public domain; the URLs may break at any time, so downloaders must expect failures.
CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        name="great_wave",
        title="The Great Wave off Kanagawa",
        artist="Katsushika Hokusai",
        year="c. 1831",
        url="https://upload.wikimedia.org/wikipedia/commons/0/0a/The_Great_Wave_off_Kanagawa.jpg",
    ),
    CatalogueEntry(
        name="starry_night",
        title="The Starry Night",
        artist="Vincent van Gogh",
        year="1889",
        url=(
            "https://upload.wikimedia.org/wikipedia/commons/thumb/e/ea/"
            "Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
            "1024px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg"
        ),
    ),
    CatalogueEntry(
        name="composition_vii",
        title="Composition VII",
        artist="Wassily Kandinsky",
        year="1913",
        url="https://upload.wikimedia.org/wikipedia/commons/b/b4/Vassily_Kandinsky%2C_1913_-_Composition_7.jpg",
    ),
    CatalogueEntry(
        name="the_scream",
        title="The Scream",
        artist="Edvard Munch",
        year="1893",
        url=(
            "https://upload.wikimedia.org/wikipedia/commons/c/c5/"
            "Edvard_Munch%2C_1893%2C_The_Scream%2C_oil%2C_tempera_and_pastel_on_cardboard%2C_91_x_73_cm%2C"
            "_National_Gallery_of_Norway.jpg"
        ),
    ),
    CatalogueEntry(
        name="nantes",
        title="Nantes from the Ile Feydeau",
        artist="J. M. W. Turner",
        year="1829",
        url="https://upload.wikimedia.org/wikipedia/commons/b/b7/JMW_Turner_-_Nantes_from_the_Ile_Feydeau.jpg",
    ),
)


def catalogue_entry(name: str) -> CatalogueEntry | None:
    """The catalogue entry called `name`, or None when the catalogue has no such preset."""
    return next((entry for entry in CATALOGUE if entry.name == name), None)
