"""Inline keyboards; their button data comes from callback_data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.models import QUALITIES, STRENGTHS, UserSettings
from bot.presets.library import default_title
from bot.telegram.callback_data import GroupCap, MakingOf, PickPreset, Remix, Setting, encode

QUALITY_LABELS = {"instant": "⚡ Instant", "preview": "Preview 256px", "standard": "Standard 512px", "hd": "HD 1024px"}


def presets(names: Sequence[str], owner: int | None = None, per_row: int = 2) -> InlineKeyboardMarkup:
    """One button per preset; tapping it starts a job with the pending photo (of `owner` only, if set)."""
    buttons = [InlineKeyboardButton(default_title(n), callback_data=encode(PickPreset(n, owner))) for n in names]
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


def result(job_id: int, keep_colors: bool, hd: bool) -> InlineKeyboardMarkup:
    """Remix buttons, the making-of, and a Share button that opens inline mode on this result."""

    def remix(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=encode(Remix(action, job_id)))

    colours = "🎨 Use style colours" if keep_colors else "🖼 Keep colours"
    second = [remix(colours, "colors")] + ([] if hd else [remix("🔍 HD", "hd")])
    return InlineKeyboardMarkup(
        [
            [remix("🔁 Again", "again"), remix("➕ Stronger", "stronger"), remix("➖ Weaker", "weaker")],
            second,
            [
                InlineKeyboardButton("🎬 Making of", callback_data=encode(MakingOf(job_id))),
                InlineKeyboardButton("↗️ Share", switch_inline_query=f"#{job_id}"),
            ],
        ]
    )


def group_settings(current: str) -> InlineKeyboardMarkup:
    """The highest quality a group allows."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    ("✓ " if q == current else "") + f"Max {QUALITY_LABELS[q]}", callback_data=encode(GroupCap(q))
                )
                for q in QUALITIES
            ]
        ]
    )


def settings(current: UserSettings) -> InlineKeyboardMarkup:
    """Quality, strength and colour choices, the current ones ticked."""

    def button(label: str, key: str, value: str, chosen: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(("✓ " if chosen else "") + label, callback_data=encode(Setting(key, value)))

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


def did_you_mean(
    names: Sequence[str], owner: int | None = None, titles: Mapping[str, str] | None = None
) -> InlineKeyboardMarkup:
    """One button per suggested preset (UnknownPresetError.suggestions), labelled with its title when known."""
    labels = titles or {}
    buttons = [
        InlineKeyboardButton(labels.get(n) or default_title(n), callback_data=encode(PickPreset(n, owner)))
        for n in names
    ]
    return InlineKeyboardMarkup([[button] for button in buttons])  # titles are long: one per row
