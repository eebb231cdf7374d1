"""Photos that cannot be painted: refused when they arrive, named (your photo / the style), worded in every language.

Issue 17 item 1: a truncated JPEG sent first used to be kept as the pending photo, so every later photo was
taken as its style and failed. Issue 15: the engine's and the preset library's reasons reach the user as kinds,
worded only by the Telegram layer, so a Russian user reads no English.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.core.errors import Problem, ProblemKind, UnusableInputError, problem_of
from bot.jobs.cluster.events import failure_fields, failure_from_fields, from_json, to_json
from bot.jobs.layout import JobFiles
from bot.jobs.protocol import JobFailed, RunJob
from bot.presets.library import InvalidPresetNameError, UnknownPresetError
from bot.telegram import i18n, texts
from engine.errors import ImageProblem, InvalidImageError
from engine.imaging import load_as, probe_image
from testing.bot_harness import photo_bytes
from testing.fake_telegram import DOWNLOAD, Chat, FakeTelegram, User
from testing.inprocess import ScriptedExecutor, results, running_bot, said, until
from tests.test_imaging import handmade_png

# Values of every kind's numbers, none of them English words (a name is user data, not the bot's words).
SAMPLE_VALUES: dict[str, dict[str, float | int | str]] = {
    "too_long": {"width": 30000, "height": 200, "limit_px": 20000},
    "too_big": {"megapixels": 64.0, "limit_mp": 24},
    "bad_aspect": {"aspect": 25.0, "limit": 20.0},
    "file_too_large": {"size": "31.5", "limit": "20"},
    "style_gone": {"name": "x1"},
}
KINDS = [*(p.value for p in ImageProblem), *(k.value for k in ProblemKind)]
# Words a translation may share with English: format and product names.
SHARED = {"jpeg", "png", "webp", "bmp", "gif", "tiff", "telegram"}


def damaged_jpeg() -> bytes:
    """A JPEG cut off halfway, as an interrupted upload leaves it."""
    data = photo_bytes((320, 240), seed=7)
    return data[: len(data) // 2]


def send_damaged(fake: FakeTelegram, chat: Chat, user: User | None = None) -> None:
    """The user sends the damaged JPEG as a file (a photo would be recompressed by the app, hence intact)."""
    fake.send_document(chat, user, damaged_jpeg(), file_name="IMG_0001.jpg", mime_type="image/jpeg")


def english_words(message: str) -> set[str]:
    """The words of an English sentence that a translation should not contain."""
    return {w.lower() for w in re.findall(r"[A-Za-z]{3,}", message)} - SHARED


def latin_words(message: str) -> list[str]:
    """Words in Latin letters (English leaking into a Russian or Persian text), format names aside."""
    return [w for w in re.findall(r"[A-Za-z]{2,}", message) if w.lower() not in SHARED]


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_worded_in_every_language_without_english(kind: str, lang: str) -> None:
    for role in ("photo", "style", None):
        problem = Problem(kind, role, SAMPLE_VALUES.get(kind, {}))  # type: ignore[arg-type]
        for english, translated in (
            (texts.unusable(problem), texts.unusable(problem, lang)),
            (texts.failed(problem), texts.failed(problem, lang)),
        ):
            assert "{" not in translated and "}" not in translated, translated
            leaked = english_words(english) & english_words(translated)
            assert not leaked, f"{lang}/{kind}: {leaked} in {translated!r}"
            for value in SAMPLE_VALUES.get(kind, {}).values():
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                assert shown in translated, f"{lang}/{kind}: {shown} missing from {translated!r}"


def test_the_english_wording_says_which_picture_to_send_again() -> None:
    damaged = Problem("damaged", "photo")
    assert texts.unusable(damaged) == "I couldn't use your photo: it is damaged or incomplete. Please send it again."
    style = texts.unusable(Problem("damaged", "style"))
    assert "style image" in style and "send another style image" in style
    assert texts.failed(Problem("style_gone", "style", {"name": "the scream"})).startswith(
        "❌ I couldn't use the style: the painting 'the scream' has been removed."
    )
    # A code this version does not know, or one whose numbers are missing, still reads as a sentence.
    assert texts.reason(Problem("from_the_future")) == "I can't read it"
    assert texts.reason(Problem("too_long")) == "I can't read it"
    assert texts.reason(Problem("too_big", values={"limit_mp": 24})) == "it has more than the 24 megapixels allowed"


def test_the_engine_raises_kinds_with_the_numbers_and_the_callers_limit() -> None:
    with pytest.raises(InvalidImageError) as damaged:
        probe_image(damaged_jpeg())
    assert damaged.value.kind is ImageProblem.DAMAGED
    with pytest.raises(InvalidImageError) as foreign:
        probe_image(b"%PDF-1.4 not a picture")
    assert foreign.value.kind is ImageProblem.UNSUPPORTED
    for side in (7000, 8000, 10_000):  # under, over the engine's own 50 MP, and a Pillow bomb warning (100 MP)
        with pytest.raises(InvalidImageError) as big:
            probe_image(handmade_png(side, side), max_pixels=24_000_000)
        assert big.value.kind is ImageProblem.TOO_BIG and big.value.values["limit_mp"] == 24, big.value.values
        assert "24 megapixels" in str(big.value) and "50" not in str(big.value)
    with pytest.raises(InvalidImageError) as style:
        load_as("style", damaged_jpeg())
    assert style.value.role == "style" and problem_of(style.value) == Problem("damaged", "style")


def test_problems_travel_through_the_cluster_streams_and_name_presets() -> None:
    failed = JobFailed(7, "This picture is damaged", True, Problem("too_big", "photo", {"megapixels": 64.0}))
    assert from_json(to_json(failed)) == failed  # kept with the in-flight entry across a restart
    stream = {k: str(v) for k, v in failure_fields(failed).items()}  # as Redis hands the entry back
    assert failure_from_fields(7, stream) == failed and "damaged" not in stream["problem"]
    assert from_json(to_json(JobFailed(8, "boom", False))) == JobFailed(8, "boom", False)
    gone = problem_of(UnknownPresetError("the_scream"))
    assert (gone.kind, gone.role, gone.values) == ("style_gone", "style", {"name": "the_scream"})
    assert problem_of(UnusableInputError(Problem("damaged")), "photo").role == "photo"


def session_count(data: Path) -> int:
    """Photos waiting for a style, in the bot's database."""
    with sqlite3.connect(data / "stylebot.sqlite3") as db:
        return int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


def bot_texts(fake: FakeTelegram, chat: Chat) -> list[str]:
    """Every text and caption the bot sent to or edited in the chat."""
    return [m.get("text") or m.get("caption") or "" for m in fake.bot_messages(chat.id)]


async def test_a_damaged_first_photo_is_refused_and_the_next_ones_make_a_picture(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(401, "Dora")
        send_damaged(fake, chat)
        await said(fake, chat, "I couldn't use your photo: it is damaged or incomplete. Please send it again.")
        assert not any("Got your photo" in t for t in bot_texts(fake, chat)) and session_count(tmp_path) == 0
        fake.send_photo(chat, None, photo_bytes(seed=1))
        await said(fake, chat, "Got your photo")
        send_damaged(fake, chat)  # a damaged style: the photo stays, only the style is asked for
        await said(fake, chat, "I couldn't use that style image: it is damaged or incomplete.")
        assert session_count(tmp_path) == 1
        fake.send_photo(chat, None, photo_bytes(seed=2))
        await until(fake, lambda: results(fake, chat), "the picture")
        assert session_count(tmp_path) == 0


async def test_a_stored_photo_that_turns_out_unreadable_is_dropped_and_named(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(402, "Emil")
        outage = fake.fault(DOWNLOAD, error_code=502, times=1)  # Telegram is away: the photo is kept unchecked
        send_damaged(fake, chat)
        await said(fake, chat, "Got your photo")
        assert outage.hits == 1 and session_count(tmp_path) == 1
        fake.send_photo(chat, None, photo_bytes(seed=3))  # meant as the style; the pending photo is damaged
        reply = await said(fake, chat, "I couldn't use your photo")
        assert reply.endswith("Please send it again.") and session_count(tmp_path) == 0
        fake.send_photo(chat, None, photo_bytes(seed=4))
        got = lambda: sum("Got your photo" in t for t in bot_texts(fake, chat)) >= 2  # noqa: E731
        await until(fake, got, "the new photo taken as a photo, not as a style")
        fake.send_photo(chat, None, photo_bytes(seed=5))
        await until(fake, lambda: results(fake, chat), "the picture")


@dataclass
class DamagedInputExecutor(ScriptedExecutor):
    """Workers that find the job's photo damaged, as the engine reports it (an English message plus a kind)."""

    role: str = "content"

    async def _paint(self, request: RunJob, gate: asyncio.Event) -> None:
        """Fail the way bot.jobs.painting does when the engine cannot read an input."""
        JobFiles(Path(request.out_dir)).root.mkdir(parents=True, exist_ok=True)
        error = InvalidImageError(ImageProblem.DAMAGED, "This picture is damaged or incomplete and cannot be read.")
        error.role = self.role
        del self._running[request.job_id]
        self.on_event(JobFailed(request.job_id, str(error), True, problem_of(error)))


async def test_a_russian_user_reads_no_english_about_a_damaged_photo(fake: FakeTelegram, tmp_path: Path) -> None:
    # No instant picture: its upload racing the failure's clean-up is issue 17 item 3, not this test's subject.
    async with running_bot(fake, tmp_path, DamagedInputExecutor(), instant_preview=False):
        chat = fake.private_chat(403, "Ivan")
        ivan: User = fake.user(403, "Ivan", language_code="ru")
        send_damaged(fake, chat, ivan)  # refused on arrival
        await said(fake, chat, "Не получилось использовать ваше фото: файл повреждён или загружен не полностью.")
        fake.send_photo(chat, ivan, photo_bytes(seed=5))
        await said(fake, chat, "Фото получено. Теперь пришлите изображение стиля")
        send_damaged(fake, chat, ivan)  # a damaged style
        await said(fake, chat, "Не получилось использовать это изображение стиля")
        fake.send_text(chat, ivan, "/style dots")  # the worker finds the photo damaged: the job fails
        await said(fake, chat, "❌ Не получилось использовать ваше фото")
        said_texts = bot_texts(fake, chat)
        assert len(said_texts) >= 4
        for message in said_texts:
            assert not latin_words(message), f"English in a Russian reply: {message!r}"


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE])
def test_a_refused_preset_name_is_explained_in_the_admins_language(lang: str) -> None:
    english = texts.preset_error(InvalidPresetNameError("x y"))
    assert (
        english == "'x y' cannot be a style name: use 1-32 lowercase letters, digits or underscores, like starry_night."
    )
    translated = texts.preset_error(InvalidPresetNameError("x y"), lang)
    assert "x y" in translated and "starry_night" in translated
    example = {"starry", "night", "use"}  # the example name is the same everywhere; "use" is Portuguese too
    assert not (english_words(english) - example) & english_words(translated), translated


@pytest.mark.parametrize("side", [8000, 10_000])  # over the engine's own 50 MP; a Pillow bomb warning
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the fake Bot API looks at the file too
async def test_a_huge_document_is_refused_quoting_the_configured_limit(
    fake: FakeTelegram, tmp_path: Path, side: int
) -> None:
    async with running_bot(fake, tmp_path):
        chat = fake.private_chat(404, "Fritz")
        fake.send_document(chat, None, handmade_png(side, side), file_name="huge.png", mime_type="image/png")
        reply = await said(fake, chat, "megapixels")
        assert "at most 24 are allowed" in reply and "50" not in reply, reply
        assert session_count(tmp_path) == 0
