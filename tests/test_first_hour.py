"""A new user's first hour with painting names: typed as people type them, misspelt, or with no photo pending.

The real Application runs in-process against the fake Bot API; the library holds paintings with multi-word
names, titles and artists, as the real catalogue does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testing.bot_harness import photo_bytes
from testing.fake_telegram import Chat, FakeTelegram
from testing.inprocess import results, running_bot, said, texts, until

PAINTINGS = {
    "starry_night": {"title": "The Starry Night", "artist": "Vincent van Gogh", "year": "1889"},
    "great_wave": {"title": "The Great Wave off Kanagawa", "artist": "Katsushika Hokusai"},
    "the_scream": {"title": "The Scream", "artist": "Edvard Munch"},
    "composition_vii": {},  # no manifest entry: its label comes from the name
}


@pytest.fixture
def styles(tmp_path: Path) -> Path:
    """A preset library like the real catalogue's."""
    directory = tmp_path / "catalogue"
    directory.mkdir()
    for seed, name in enumerate(PAINTINGS):
        (directory / f"{name}.jpg").write_bytes(photo_bytes((80, 80), seed=200 + seed))
    manifest = {name: about for name, about in PAINTINGS.items() if about}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def buttons(message: dict[str, Any]) -> list[str]:
    """The labels of a message's inline buttons."""
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


async def keyboard_with(fake: FakeTelegram, chat: Chat, fragment: str) -> dict[str, Any]:
    """The bot's message in the chat whose text contains `fragment` and which carries buttons."""
    return await until(
        fake,
        lambda: next(
            (m for m in fake.bot_messages(chat.id) if fragment in (m.get("text") or "") and m.get("reply_markup")),
            None,
        ),
        f"buttons under {fragment!r}",
    )


async def result_for(fake: FakeTelegram, chat: Chat, count: int) -> dict[str, Any]:
    """The chat's `count`-th result."""
    done = await until(fake, lambda: len(results(fake, chat)) >= count and results(fake, chat), f"result {count}")
    return done[count - 1]


async def test_captions_name_paintings_by_title_artist_or_name_in_any_case(
    fake: FakeTelegram, tmp_path: Path, styles: Path
) -> None:
    async with running_bot(fake, tmp_path, styles_dir=styles):
        chat = fake.private_chat(701, "Ann")
        for count, (caption, title) in enumerate(
            [("Starry Night", "The Starry Night"), ("munch", "The Scream"), ("great-wave", "The Great Wave")], 1
        ):
            fake.send_photo(chat, None, photo_bytes(seed=count), caption=caption)
            assert title in (await result_for(fake, chat, count))["caption"], caption
        assert not any("Unknown style" in t or "pick a painting" in t for t in texts(fake, chat))


async def test_a_misspelt_caption_offers_the_closest_painting_and_one_tap_starts(
    fake: FakeTelegram, tmp_path: Path, styles: Path
) -> None:
    async with running_bot(fake, tmp_path, styles_dir=styles):
        chat = fake.private_chat(702, "Bea")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="stary nigth")
        asked = await keyboard_with(fake, chat, "Did you mean")
        assert asked["text"].startswith("Got your photo. Did you mean The Starry Night?")
        assert buttons(asked) == ["The Starry Night"]  # the closest painting, not the whole list
        fake.press_button(chat, None, asked, "p|starry_night")
        assert "The Starry Night" in (await result_for(fake, chat, 1))["caption"]
        fake.send_photo(chat, None, photo_bytes(seed=2), caption="my cat")  # just a caption: the usual question
        assert buttons(await keyboard_with(fake, chat, "pick a painting")) == [
            "Composition VII",
            "Great Wave",
            "Starry Night",
            "The Scream",
        ]


async def test_style_command_and_typed_names_with_and_without_a_photo(
    fake: FakeTelegram, tmp_path: Path, styles: Path
) -> None:
    async with running_bot(fake, tmp_path, styles_dir=styles):
        chat = fake.private_chat(703, "Cy")
        fake.send_text(chat, None, "The Great Wave")  # no photo yet: the choice is kept, and the bot says so
        await said(fake, chat, "OK: The Great Wave off Kanagawa will be used for your next photo.")
        fake.send_photo(chat, None, photo_bytes(seed=1))
        assert "The Great Wave" in (await result_for(fake, chat, 1))["caption"]

        fake.send_photo(chat, None, photo_bytes(seed=2))
        await keyboard_with(fake, chat, "pick a painting")
        fake.send_text(chat, None, "/style Starry Night")
        assert "The Starry Night" in (await result_for(fake, chat, 2))["caption"]

        fake.send_photo(chat, None, photo_bytes(seed=3))
        fake.send_text(chat, None, "/style the screm")
        asked = await keyboard_with(fake, chat, "Unknown style 'the screm'. Did you mean The Scream?")
        assert buttons(asked) == ["The Scream"]
        fake.press_button(chat, None, asked, "p|the_scream")
        assert "The Scream" in (await result_for(fake, chat, 3))["caption"]
        assert not any("type a painting's name" in t for t in texts(fake, chat))  # no hint after a name
