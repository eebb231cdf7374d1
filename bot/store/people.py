"""People and places: users' settings and languages, pending sessions, group settings, unreachable chats."""

from __future__ import annotations

import re

from bot.core.models import (
    DEFAULT_GROUP_MAX_QUALITY,
    MediaKind,
    Quality,
    Session,
    UserSettings,
    parse_media,
    parse_quality,
    parse_strength,
)
from bot.store.sql import SqlStore

SETTING_FIELDS = ("quality", "strength", "keep_colors", "default_style", "language")
# A language tag as Telegram sends it ('en', 'pt-br'); which ones the bot speaks is the Telegram layer's concern.
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


def _validate_setting(field: str, value: object) -> object:
    """Return the value to store for one user setting, or raise ValueError naming what is allowed."""
    if field == "quality":
        return parse_quality(value)
    if field == "strength":
        return parse_strength(value)
    if field == "keep_colors":
        if not isinstance(value, bool):
            raise ValueError(f"keep_colors must be True or False; got {value!r}")
        return int(value)
    if value is None:
        return None
    if field == "language":
        if not (isinstance(value, str) and LANGUAGE_TAG.fullmatch(value)):
            raise ValueError(f"language must be a language tag like 'en' or 'pt-br', or None; got {value!r}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"default_style must be a style spec string or None; got {value!r}")
    # Blank means "no default", which is what a user clearing it wants.
    return value.strip() or None


class PeopleStore(SqlStore):
    """Users and their settings, sessions waiting for a style, group settings and chats that blocked the bot."""

    async def get_settings(self, user_id: int) -> UserSettings:
        """Return a user's settings, or the defaults for a user never stored (nothing is inserted)."""
        row = await self._fetch_one(
            "SELECT quality, strength, keep_colors, default_style, language FROM users WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return UserSettings(user_id=user_id, quality=self._default_quality)
        return UserSettings(
            user_id=user_id,
            quality=row["quality"] or self._default_quality,
            strength=row["strength"],
            keep_colors=bool(row["keep_colors"]),
            default_style=row["default_style"],
            language=row["language"],
        )

    async def update_settings(self, user_id: int, **changes: object) -> UserSettings:
        """Change some of a user's settings (creating the user if needed) and return them all."""
        unknown = set(changes) - set(SETTING_FIELDS)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; allowed: {', '.join(SETTING_FIELDS)}")
        values = {field: _validate_setting(field, value) for field, value in changes.items()}
        if values:
            # Column names come from SETTING_FIELDS only, never from the caller, so the f-string is safe.
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            updates = ", ".join(f"{column} = excluded.{column}" for column in values)
            now = self._clock()
            await self._write(
                f"INSERT INTO users (user_id, created_at, updated_at, {columns}) VALUES (?, ?, ?, {marks}) "
                f"ON CONFLICT (user_id) DO UPDATE SET {updates}, updated_at = excluded.updated_at",
                (user_id, now, now, *values.values()),
            )
        return await self.get_settings(user_id)

    async def remember_user(self, user_id: int, language_code: str | None = None) -> None:
        """Store or refresh a user's first name and the language their Telegram app reports (kept if it sends none)."""
        now = self._clock()
        tag = language_code.lower() if language_code and LANGUAGE_TAG.fullmatch(language_code.lower()) else None
        await self._write(
            "INSERT INTO users (user_id, telegram_language, created_at, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET "
            "telegram_language = COALESCE(excluded.telegram_language, users.telegram_language), "
            "updated_at = excluded.updated_at",
            (user_id, tag, now, now),
        )

    async def language_of(self, user_id: int) -> str | None:
        """The language to write to a user in when they are not writing: their choice, else their app's, if known."""
        row = await self._fetch_one(
            "SELECT COALESCE(language, telegram_language) FROM users WHERE user_id = ?", (user_id,)
        )
        return row[0] if row is not None else None

    # -- groups -----------------------------------------------------------

    async def get_group_max_quality(self, chat_id: int) -> Quality:
        """Return the highest quality a group allows (hd unless an admin lowered it)."""
        row = await self._fetch_one("SELECT max_quality FROM group_settings WHERE chat_id = ?", (chat_id,))
        return DEFAULT_GROUP_MAX_QUALITY if row is None else parse_quality(row["max_quality"])

    async def set_group_max_quality(self, chat_id: int, quality: Quality) -> None:
        """Set the highest quality a group allows."""
        value = parse_quality(quality)
        await self._write(
            "INSERT INTO group_settings (chat_id, max_quality, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (chat_id) DO UPDATE SET max_quality = excluded.max_quality, "
            "updated_at = excluded.updated_at",
            (chat_id, value, self._clock()),
        )

    # -- sessions ---------------------------------------------------------

    async def save_session(
        self,
        chat_id: int,
        user_id: int,
        content_file_id: str,
        *,
        content_message_id: int | None = None,
        media_group_id: str | None = None,
        ttl_s: float = 3600,
        media: MediaKind = "photo",
        frames: int = 0,
    ) -> Session:
        """Store the user's pending content photo in this chat, replacing any earlier one."""
        now = self._clock()
        session = Session(
            chat_id=chat_id,
            user_id=user_id,
            content_file_id=content_file_id,
            content_message_id=content_message_id,
            media_group_id=media_group_id,
            expires_at=now + ttl_s,
            media=media,
            frames=frames,
        )
        await self._write(
            "INSERT OR REPLACE INTO sessions (chat_id, user_id, content_file_id, "
            "content_message_id, media_group_id, created_at, expires_at, media, frames) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chat_id,
                user_id,
                content_file_id,
                content_message_id,
                media_group_id,
                now,
                session.expires_at,
                None if media == "photo" else media,
                frames,
            ),
        )
        return session

    async def get_session(self, chat_id: int, user_id: int) -> Session | None:
        """Return the user's pending content photo in this chat, or None when absent or expired."""
        row = await self._fetch_one(
            "SELECT * FROM sessions WHERE chat_id = ? AND user_id = ? AND expires_at > ?",
            (chat_id, user_id, self._clock()),
        )
        if row is None:
            return None
        return Session(
            chat_id=row["chat_id"],
            user_id=row["user_id"],
            content_file_id=row["content_file_id"],
            content_message_id=row["content_message_id"],
            media_group_id=row["media_group_id"],
            expires_at=row["expires_at"],
            media=parse_media(row["media"] or "photo"),
            frames=row["frames"],
        )

    async def delete_session(self, chat_id: int, user_id: int) -> None:
        """Forget the user's pending content photo in this chat."""
        await self._write("DELETE FROM sessions WHERE chat_id = ? AND user_id = ?", (chat_id, user_id))

    # -- chats that blocked or removed the bot ------------------------------

    async def set_chat_unreachable(self, chat_id: int, reason: str) -> None:
        """Remember that a chat blocked or removed the bot: nothing is sent there until it writes again."""
        await self._write(
            "INSERT OR REPLACE INTO unreachable_chats (chat_id, reason, since) VALUES (?, ?, ?)",
            (chat_id, reason, self._clock()),
        )

    async def set_chat_reachable(self, chat_id: int) -> bool:
        """The chat wrote to the bot again; True if it had been marked unreachable."""
        return await self._write("DELETE FROM unreachable_chats WHERE chat_id = ?", (chat_id,)) > 0

    async def unreachable_chats(self) -> set[int]:
        """Chats marked unreachable."""
        return {row[0] for row in await self._fetch_all("SELECT chat_id FROM unreachable_chats")}

    # -- presets' thumbnails in Telegram ------------------------------------

    async def remember_preset_file(self, name: str, file_id: str) -> None:
        """Record the Telegram file id of a preset's thumbnail."""
        await self._write(
            "INSERT INTO preset_files (name, file_id, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET file_id = excluded.file_id, updated_at = excluded.updated_at",
            (name, file_id, self._clock()),
        )

    async def preset_files(self) -> dict[str, str]:
        """Thumbnail file ids by preset name."""
        rows = await self._fetch_all("SELECT name, file_id FROM preset_files")
        return {row["name"]: row["file_id"] for row in rows}
