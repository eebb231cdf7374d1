"""The bot's sticker sets on Telegram: each user's own pack, and the sets painted video stickers are staged in.

Telegram shows a WEBM sent with sendSticker as a file: a video sticker must belong to a set first. Sets are
made by the bot for one user each (`<prefix><user id>_by_<bot username>`, as Telegram requires) on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import InputSticker
from telegram.error import BadRequest
from telegram.ext import ExtBot

log = logging.getLogger(__name__)

PACK = "p"  # the user's own pack ("Add to my sticker pack")
STAGING = "r"  # where video sticker results wait to be sent; the oldest go once it is nearly full
STAGING_KEEP = 100  # Telegram allows 120 stickers a set
EMOJI = ("🎨",)


@dataclass(frozen=True)
class Added:
    """A sticker now in a set: the set's name, whether it was just made, and the sticker's file id."""

    name: str
    created: bool
    file_id: str

    @property
    def link(self) -> str:
        """Where people add the set to their Telegram."""
        return f"https://t.me/addstickers/{self.name}"


class StickerSets:
    """Creates the sets on first use and adds stickers to them."""

    def __init__(self, bot: ExtBot[Any]) -> None:
        self._bot = bot

    def name(self, prefix: str, owner: int) -> str:
        """The set's name: a letter, the owner's id, and the bot's username, as Telegram requires."""
        return f"{prefix}{abs(owner)}_by_{self._bot.username}"

    async def add(self, prefix: str, owner: int, sticker: InputSticker, title: str) -> Added:
        """Add a sticker to the owner's set, creating the set first if it does not exist; raises TelegramError."""
        name = self.name(prefix, owner)
        try:
            stickers = (await self._bot.get_sticker_set(name)).stickers
        except BadRequest as exc:
            if "STICKERSET_INVALID" not in str(exc).upper():
                raise
            await self._bot.create_new_sticker_set(owner, name, title[:64], [sticker])
            created = True
        else:
            if prefix == STAGING and len(stickers) >= STAGING_KEEP:
                await self._bot.delete_sticker_from_set(stickers[0].file_id)
            await self._bot.add_sticker_to_set(owner, name, sticker)
            created = False
        added = (await self._bot.get_sticker_set(name)).stickers[-1]
        log.info("sticker added to set %s%s", name, " (new)" if created else "")
        return Added(name, created, added.file_id)


def input_sticker(data: bytes | str, video: bool) -> InputSticker:
    """A sticker to add: WEBP bytes (static), WEBM bytes (video), or the file id of a sticker Telegram has."""
    return InputSticker(data, EMOJI, "video" if video else "static")
