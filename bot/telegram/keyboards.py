"""Inline keyboards; their button data comes from callback_data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.models import QUALITIES, STRENGTHS, UserSettings
from bot.presets.library import default_title
from bot.telegram.callback_data import (
    AddSticker,
    ChooseLanguage,
    GroupCap,
    MakingOf,
    PickPreset,
    Remix,
    Setting,
    encode,
)
from bot.telegram.i18n import LANGUAGES, N_, SOURCE
from bot.telegram.texts import LANGUAGE_AUTO_BUTTON, STRENGTH_LABELS, text

STICKER_BUTTON = N_("➕ Add to my sticker pack")
QUALITY_LABELS = {
    "instant": N_("⚡ Instant"),
    "preview": N_("Preview 256px"),
    "standard": N_("Standard 512px"),
    "hd": N_("HD 1024px"),
}


def presets(names: Sequence[str], owner: int | None = None, per_row: int = 2) -> InlineKeyboardMarkup:
    """One button per preset; tapping it starts a job with the pending photo (of `owner` only, if set)."""
    buttons = [InlineKeyboardButton(default_title(n), callback_data=encode(PickPreset(n, owner))) for n in names]
    return InlineKeyboardMarkup([buttons[i : i + per_row] for i in range(0, len(buttons), per_row)])


def result(job_id: int, keep_colors: bool, hd: bool, lang: str = SOURCE, *, clip: bool = False) -> InlineKeyboardMarkup:
    """Remix buttons, the making-of, a Share button that opens inline mode on this result, and the sticker pack.

    A clip gets the remixes that make sense for it (again, stronger, weaker, colours): it has no making-of, and
    inline mode shares photos.
    """

    def remix(label: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text(label, lang), callback_data=encode(Remix(action, job_id)))

    colours = N_("🎨 Use style colours") if keep_colors else N_("🖼 Keep colours")
    second = [remix(colours, "colors")] + ([] if hd or clip else [remix(N_("🔍 HD"), "hd")])
    pack = InlineKeyboardButton(text(STICKER_BUTTON, lang), callback_data=encode(AddSticker(job_id)))
    rows = [
        [remix(N_("🔁 Again"), "again"), remix(N_("➕ Stronger"), "stronger"), remix(N_("➖ Weaker"), "weaker")],
        second,
    ]
    if not clip:
        rows.append(
            [
                InlineKeyboardButton(text(N_("🎬 Making of"), lang), callback_data=encode(MakingOf(job_id))),
                InlineKeyboardButton(text(N_("↗️ Share"), lang), switch_inline_query=f"#{job_id}"),
            ]
        )
    rows.append([pack])
    return InlineKeyboardMarkup(rows)


def group_settings(current: str, lang: str = SOURCE) -> InlineKeyboardMarkup:
    """The highest quality a group allows."""

    def label(quality: str) -> str:
        return ("✓ " if quality == current else "") + text(N_("Max {quality}"), lang).format(
            quality=text(QUALITY_LABELS[quality], lang)
        )

    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label(q), callback_data=encode(GroupCap(q))) for q in QUALITIES]]
    )


def settings(current: UserSettings, lang: str = SOURCE) -> InlineKeyboardMarkup:
    """Quality, strength and colour choices, the current ones ticked."""

    def button(label: str, key: str, value: str, chosen: bool) -> InlineKeyboardButton:
        return InlineKeyboardButton(("✓ " if chosen else "") + label, callback_data=encode(Setting(key, value)))

    def strength(value: str) -> str:
        return text(N_("Strength: {strength}"), lang).format(strength=text(STRENGTH_LABELS[value], lang))

    colors = current.keep_colors
    return InlineKeyboardMarkup(
        [
            [button(text(QUALITY_LABELS[q], lang), "quality", q, q == current.quality) for q in QUALITIES],
            [button(strength(s), "strength", s, s == current.strength) for s in STRENGTHS],
            [
                button(text(N_("Keep photo colours"), lang), "colors", "on", colors),
                button(text(N_("Use style colours"), lang), "colors", "off", not colors),
            ],
        ]
    )


def languages(current: str | None, lang: str = SOURCE) -> InlineKeyboardMarkup:
    """Each language in its own name, two a row, then 'my Telegram app's language'; the user's choice ticked."""

    def button(label: str, code: str) -> InlineKeyboardButton:
        chosen = code == (current or ChooseLanguage.AUTOMATIC)
        return InlineKeyboardButton(("✓ " if chosen else "") + label, callback_data=encode(ChooseLanguage(code)))

    buttons = [button(name, code) for code, name in LANGUAGES.items()]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return InlineKeyboardMarkup([*rows, [button(text(LANGUAGE_AUTO_BUTTON, lang), ChooseLanguage.AUTOMATIC)]])


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
