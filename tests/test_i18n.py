"""The bot in the user's language: complete catalogues, Russian and Spanish users, /language, command menus."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.core.messages import Msg
from bot.store.storage import Storage
from bot.telegram import i18n, texts
from testing.bot_harness import photo_bytes
from testing.fake_telegram import Chat, FakeTelegram, User
from testing.inprocess import ScriptedExecutor, results, running_bot, said, until

LOCALES = Path(i18n.__file__).with_name("locales")


def catalogue(path: Path) -> Catalog:
    """A .po or .pot file, parsed."""
    with path.open("rb") as source:
        return read_po(source)


def fields(message: str) -> set[str]:
    """The {placeholders} of a text."""
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_the_template_holds_every_marked_text() -> None:
    # Fails when a text changed without re-extracting (the command is in bot/telegram/i18n.py).
    marked = {message for _, _, message, _, _ in extract_from_dir(LOCALES.parent, keywords={"N_": None})}
    template = {m.id for m in catalogue(LOCALES / "stylebot.pot") if m.id}
    assert marked == template


@pytest.mark.parametrize("lang", list(i18n.LANGUAGES))
def test_every_catalogue_translates_every_text_with_the_same_placeholders(lang: str) -> None:
    template = {m.id for m in catalogue(LOCALES / "stylebot.pot") if m.id}
    translated = catalogue(LOCALES / lang / "LC_MESSAGES" / "stylebot.po")
    entries = {m.id: m for m in translated if m.id}
    assert set(entries) == template, "missing or obsolete entries: run pybabel update"
    for msgid, entry in entries.items():
        assert isinstance(entry.string, str) and entry.string.strip(), f"{lang}: untranslated {msgid!r}"
        assert not entry.fuzzy, f"{lang}: fuzzy {msgid!r}"
        assert fields(entry.string) == fields(str(msgid)), f"{lang}: placeholders of {msgid!r}"
        assert entry.string.startswith("\n") == str(msgid).startswith("\n"), f"{lang}: line break of {msgid!r}"


def test_telegram_language_codes_pick_a_catalogue() -> None:
    assert i18n.pick("pt-br") == "pt" and i18n.pick("de_AT") == "de" and i18n.pick("FA") == "fa"
    assert i18n.pick("zh-hans") == "en" and i18n.pick(None) == "en"
    assert i18n.pick("ru", "es") == "ru" and i18n.pick(None, "es") == "es"  # a stored choice wins
    assert texts.say(Msg.PICK_FOR, "ru", name="") == "Вы, выберите картину для этого фото:"
    assert texts.duration(125, "fa") == "2 دقیقه و 5 ثانیه"


async def test_storage_keeps_the_chosen_and_the_reported_language(tmp_path: Path) -> None:
    storage = await Storage.open(tmp_path / "db.sqlite3")
    try:
        assert await storage.language_of(1) is None
        await storage.remember_user(1, "ru")
        await storage.remember_user(1, None)  # an app that sends no language keeps the known one
        assert await storage.language_of(1) == "ru"
        assert (await storage.update_settings(1, language="en")).language == "en"
        await storage.remember_user(1, "ru")
        assert await storage.language_of(1) == "en"  # the user's choice beats the app's
        assert (await storage.update_settings(1, language=None)).language is None
        assert await storage.language_of(1) == "ru"
        with pytest.raises(ValueError, match="language"):
            await storage.update_settings(1, language="'; DROP TABLE users")
    finally:
        await storage.close()


def speaker(fake: FakeTelegram, user_id: int, name: str, language_code: str) -> tuple[Chat, User]:
    """A private chat with a user whose Telegram app is set to a language."""
    chat = fake.private_chat(user_id, name)
    return chat, fake.user(user_id, name, language_code=language_code)


def labels(message: dict[str, Any]) -> list[str]:
    """The button labels of a message."""
    return [b["text"] for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def last_with_buttons(fake: FakeTelegram, chat: Chat) -> dict[str, Any] | None:
    """The bot's newest message in the chat that has buttons."""
    return next((m for m in reversed(fake.bot_messages(chat.id)) if m.get("reply_markup")), None)


async def test_a_russian_speaker_is_answered_in_russian_until_choosing_english(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path):
        chat, ivan = speaker(fake, 301, "Ivan", "ru")
        fake.send_text(chat, ivan, "/start")
        await said(fake, chat, "Пришлите мне фото, а затем второе фото")
        fake.send_text(chat, ivan, "/settings")
        menu = await until(fake, lambda: last_with_buttons(fake, chat), "the settings menu")
        assert menu["text"] == "Ваши настройки (нажмите, чтобы изменить):"
        assert {"Превью 256px", "Сила: слабая", "Цвета стиля"} <= {label.lstrip("✓ ") for label in labels(menu)}

        fake.send_text(chat, ivan, "/language en")
        await said(fake, chat, "From now on I'll answer in English.")
        fake.send_text(chat, ivan, "/start")
        await until(fake, lambda: fake.bot_messages(chat.id)[-1].get("text", "").startswith("Send me a photo"), "en")
        fake.send_text(chat, ivan, "/language")
        picker = await until(
            fake, lambda: next((m for m in fake.bot_messages(chat.id) if "Which language" in m.get("text", "")), None),
            "the language buttons",
        )  # fmt: skip
        assert "✓ English" in labels(picker) and "Русский" in labels(picker)
        fake.press_button(chat, ivan, picker, "l|auto")  # back to the app's language: Russian
        await until(
            fake, lambda: fake.message(chat.id, picker["message_id"])["text"].startswith("Теперь я отвечаю на языке"),
            "the menu reworded in Russian",
        )  # fmt: skip
        assert "✓ 🌐 Язык моего приложения Telegram" in labels(fake.message(chat.id, picker["message_id"]) or {})
        fake.send_text(chat, ivan, "/language xx")
        await said(fake, chat, "Я пока не говорю на «xx». Выберите один из языков: en, ru, es, pt, de, fa.")


async def test_a_spanish_speaker_is_answered_in_spanish_to_the_result(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)  # the live preview lands before the painting is done
    async with running_bot(fake, tmp_path, executor):
        chat, lucia = speaker(fake, 302, "Lucía", "es")
        fake.send_text(chat, lucia, "/start")
        await said(fake, chat, "Envíame una foto y luego una segunda foto")
        fake.send_photo(chat, lucia, photo_bytes(seed=5))
        asked = await until(fake, lambda: last_with_buttons(fake, chat), "the painting buttons")
        assert asked["text"] == "Ya tengo tu foto. Ahora envía una imagen de estilo o elige una pintura:"
        fake.press_button(chat, lucia, asked, "p|stripes")
        await until(fake, lambda: any(c.params.get("text") == "¡En cola!" for c in fake.answered_callbacks()), "tap")
        await said(fake, chat, "🎨 Pintando… 50%")
        executor.release()
        [result] = await until(fake, lambda: results(fake, chat), "the painting")
        assert result["caption"].startswith("🎨 Stripes")
        assert "intensidad media" in result["caption"] and "strength" not in result["caption"]
        assert {"🔁 Otra vez", "➕ Más fuerte", "➖ Más suave", "🎬 Cómo se hizo", "↗️ Compartir"} <= set(labels(result))
        statuses = [c.params.get("text") or c.params.get("caption") or "" for c in fake.calls_of("sendMessage")]
        assert any(s.startswith("⏳ En cola: posición 1") for s in statuses)


async def test_command_menus_are_registered_in_every_language(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path):
        private = {"type": "all_private_chats"}
        await until(fake, lambda: fake.commands_for(private, "fa"), "the Persian menu")
        default = {c["command"]: c["description"] for c in fake.commands_for(private)}
        assert default["language"] == "The language I speak"
        russian = {c["command"]: c["description"] for c in fake.commands_for(private, "ru")}
        assert russian["start"] == "Как пользоваться ботом" and russian.keys() == default.keys()
        groups = {c["command"]: c["description"] for c in fake.commands_for({"type": "all_group_chats"}, "de")}
        assert groups["stylize"] == "Auf ein Foto antworten: /stylize NAME"
        assert fake.commands_for(private, "en") == []  # English is the default menu, not a language of its own


def test_every_message_the_core_names_is_worded() -> None:
    """Each name in bot/core/messages.py has its words in texts.MESSAGES (the type checker sees the names)."""
    assert set(texts.MESSAGES) == set(Msg)
    for msg in Msg:
        assert texts.MESSAGES[msg], msg
