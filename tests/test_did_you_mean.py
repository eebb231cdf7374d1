"""The "Did you mean …?" keyboard built from an UnknownPresetError's suggestions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.presets.library import PresetLibrary, UnknownPresetError
from bot.telegram import callback_data, keyboards
from bot.telegram.callback_data import PickPreset


def test_buttons_use_the_presets_callback_format() -> None:
    markup = keyboards.did_you_mean(["starry_night", "composition_vii"], owner=42)
    buttons = [button for row in markup.inline_keyboard for button in row]
    presets = [
        button for row in keyboards.presets(["starry_night", "composition_vii"], 42).inline_keyboard for button in row
    ]
    assert (
        [b.callback_data for b in buttons]
        == [b.callback_data for b in presets]
        == [
            "p|starry_night|42",
            "p|composition_vii|42",
        ]
    )
    assert [b.text for b in buttons] == ["Starry Night", "Composition VII"]
    assert callback_data.decode(str(buttons[0].callback_data)) == PickPreset("starry_night", 42)


def test_without_owner_and_with_titles() -> None:
    markup = keyboards.did_you_mean(["starry_night"], titles={"starry_night": "The Starry Night"})
    (button,) = [button for row in markup.inline_keyboard for button in row]
    assert (button.text, button.callback_data) == ("The Starry Night", "p|starry_night")


def test_from_a_real_error(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "JPEG")
    library = PresetLibrary(tmp_path)
    library.add("starry_night", buffer.getvalue(), title="The Starry Night")
    with pytest.raises(UnknownPresetError) as caught:
        library.get("stary night")
    markup = keyboards.did_you_mean(caught.value.suggestions, titles=caught.value.titles)
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["The Starry Night"]]
