"""The one place that writes and reads inline-button data; anything else a client sends is refused."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from bot.core.models import QUALITIES, STRENGTHS, Quality
from bot.telegram.i18n import LANGUAGES

REMIX_ACTIONS = ("again", "stronger", "weaker", "colors", "hd")
SETTING_VALUES = {"quality": QUALITIES, "strength": STRENGTHS, "colors": ("on", "off")}


class ForgedCallbackError(ValueError):
    """Button data this bot never wrote (forged, or from an older version)."""


@dataclass(frozen=True)
class PickPreset:
    """Use a preset for the pending photo (of `owner` only, in groups)."""

    name: str
    owner: int | None = None


@dataclass(frozen=True)
class Remix:
    """A button under a result."""

    action: str
    job_id: int


@dataclass(frozen=True)
class MakingOf:
    """Send a result's making-of animation."""

    job_id: int


@dataclass(frozen=True)
class AddSticker:
    """Add a result to its owner's sticker pack."""

    job_id: int


@dataclass(frozen=True)
class GroupCap:
    """An admin caps a group's quality."""

    quality: Quality


@dataclass(frozen=True)
class Setting:
    """One of the user's settings."""

    key: str
    value: str


@dataclass(frozen=True)
class ChooseLanguage:
    """The language the bot speaks to the user; AUTOMATIC follows their Telegram app."""

    code: str
    AUTOMATIC: ClassVar[str] = "auto"


Callback = PickPreset | Remix | MakingOf | AddSticker | GroupCap | Setting | ChooseLanguage
_ID = r"-?\d{1,19}"
# Anchored patterns, one per kind: CallbackQueryHandler routes by them, decode() trusts nothing else.
PATTERNS: dict[type, re.Pattern[str]] = {
    PickPreset: re.compile(rf"^p\|(?P<name>[a-z0-9_]{{1,32}})(?:\|(?P<owner>{_ID}))?$"),
    Remix: re.compile(rf"^r\|(?P<action>{'|'.join(REMIX_ACTIONS)})\|(?P<job>\d{{1,18}})$"),
    MakingOf: re.compile(r"^m\|(?P<job>\d{1,18})$"),
    AddSticker: re.compile(r"^k\|(?P<job>\d{1,18})$"),
    GroupCap: re.compile(rf"^g\|(?P<quality>{'|'.join(QUALITIES)})$"),
    Setting: re.compile(
        "^s\\|(?P<kv>" + "|".join(f"{k}\\|(?:{'|'.join(v)})" for k, v in SETTING_VALUES.items()) + ")$"
    ),
    ChooseLanguage: re.compile(rf"^l\|(?P<code>{'|'.join([*LANGUAGES, ChooseLanguage.AUTOMATIC])})$"),
}


def encode(callback: Callback) -> str:
    """The button data of a callback (at most 64 bytes, as Telegram requires)."""
    if isinstance(callback, PickPreset):
        data = f"p|{callback.name}" + (f"|{callback.owner}" if callback.owner is not None else "")
    elif isinstance(callback, Remix):
        data = f"r|{callback.action}|{callback.job_id}"
    elif isinstance(callback, MakingOf):
        data = f"m|{callback.job_id}"
    elif isinstance(callback, AddSticker):
        data = f"k|{callback.job_id}"
    elif isinstance(callback, GroupCap):
        data = f"g|{callback.quality}"
    elif isinstance(callback, ChooseLanguage):
        data = f"l|{callback.code}"
    else:
        data = f"s|{callback.key}|{callback.value}"
    if decode(data) != callback:  # the round trip guards both directions against drifting apart
        raise ValueError(f"cannot encode {callback!r}")
    return data


def decode(data: str | None) -> Callback:
    """The callback a button's data stands for; ForgedCallbackError for anything else."""
    text = data or ""
    for kind, pattern in PATTERNS.items():
        match = pattern.match(text)
        if match is None:
            continue
        if kind is PickPreset:
            owner = match["owner"]
            return PickPreset(match["name"], int(owner) if owner else None)
        if kind is Remix:
            return Remix(match["action"], int(match["job"]))
        if kind is MakingOf:
            return MakingOf(int(match["job"]))
        if kind is AddSticker:
            return AddSticker(int(match["job"]))
        if kind is GroupCap:
            return GroupCap(match["quality"])  # type: ignore[arg-type]
        if kind is ChooseLanguage:
            return ChooseLanguage(match["code"])
        key, value = match["kv"].split("|")
        return Setting(key, value)
    raise ForgedCallbackError(f"unknown button data {text[:64]!r}")
