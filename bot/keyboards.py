"""Inline keyboards and the callback-data format they use."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import QUALITIES, STRENGTHS, UserSettings

PRESET = "p"
SETTING = "s"
QUALITY_LABELS = {"preview": "Preview 256px", "standard": "Standard 512px", "hd": "HD 1024px"}


def presets(names: Sequence[str], per_row: int = 2) -> InlineKeyboardMarkup:
    """One button per preset; tapping it starts a job with the pending photo."""
    buttons = [InlineKeyboardButton(_title(n), callback_data=f"{PRESET}|{n}") for n in names]
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


def settings(current: UserSettings) -> InlineKeyboardMarkup:
    """Quality, strength and colour choices, the current ones ticked."""

    def button(label: str, key: str, value: str, chosen: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(("✓ " if chosen else "") + label, callback_data=f"{SETTING}|{key}|{value}")

    colors = current.keep_colors
    return InlineKeyboardMarkup(
        [
            [button(QUALITY_LABELS[q], "quality", q, q == current.quality) for q in QUALITIES],
            [button(f"Strength: {s}", "strength", s, s == current.strength) for s in STRENGTHS],
            [
                button("Keep photo colours", "colors", "on", colors),
                button("Use style colours", "colors", "off", not colors),
            ],
        ]
    )


def parse(data: str) -> list[str]:
    """Split callback data into its kind and arguments."""
    return data.split("|")


def _title(name: str) -> str:
    """starry_night -> Starry Night."""
    return name.replace("_", " ").title()
