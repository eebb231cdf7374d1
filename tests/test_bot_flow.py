"""End to end: the real bot process, real workers (random VGG19, tiny images), a fake Bot API."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from testing.bot_harness import (
    BotProcess,
    decode,
    keyboard_message,
    make_presets,
    photo_bytes,
    said,
    texts_in,
    wait_results,
)
from testing.fake_telegram import FakeTelegram

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]  # the bot as a process: skip with -m "not slow"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    data = tmp_path_factory.mktemp("bot")
    make_presets(data / "styles")
    process = BotProcess(fake, data, STYLEBOT_ADMIN_IDS="7", STYLEBOT_MAX_UPLOAD_MB="1").start()
    yield process
    process.stop()


def test_two_photo_flow(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1001, "Ann")
    content = photo_bytes((96, 64), seed=1)
    fake.send_photo(chat, None, content)
    said(fake, chat, "Got your photo", 30)
    asked = next(m for m in fake.bot_messages(chat.id) if "Got your photo" in (m.get("text") or ""))
    buttons = [b["text"] for row in asked["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["Dots", "Stripes"]
    fake.send_photo(chat, None, photo_bytes((64, 64), seed=2))
    [result] = wait_results(fake, chat, 1)
    image = decode(fake.message_file_bytes(result))
    assert image.size == (48, 32)  # STYLEBOT_MAX_SIDE=48, the content's 3:2 aspect
    original = np.asarray(decode(content).resize(image.size).convert("RGB"), dtype=np.float32)
    assert np.abs(np.asarray(image.convert("RGB"), dtype=np.float32) - original).mean() > 1.0
    assert "your style photo" in result["caption"]
    fake.wait_for(lambda: any(t.startswith("✅ Done") for t in texts_in(fake, chat)), 10, "status: done")


def test_commands_registered_and_start_help(fake: FakeTelegram, bot: BotProcess) -> None:
    names = {c["command"] for c in fake.commands_for({"type": "all_private_chats"})}
    assert {"start", "help", "styles", "style", "settings", "status", "cancel"} <= names
    chat = fake.private_chat(1002, "Ben")
    fake.send_text(chat, None, "/start")
    said(fake, chat, "Send me a photo", 20)
    fake.send_text(chat, None, "/help")
    said(fake, chat, "/settings", 20)


def test_preset_by_keyboard(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1003, "Cy")
    fake.send_photo(chat, None, photo_bytes((64, 96), seed=3))
    asked = keyboard_message(fake, chat, 30)
    fake.press_button(chat, None, asked, "p|stripes")
    [result] = wait_results(fake, chat, 1)
    fake.wait_for(lambda: not (fake.message(chat.id, asked["message_id"]) or {}).get("reply_markup"), 20, "used")
    assert decode(fake.message_file_bytes(result)).size == (32, 48)
    assert result["caption"].startswith("🎨 Stripes — Test, 2026\n")  # the manifest's title and artist


def test_preset_by_caption_and_blend(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1004, "Di")
    fake.send_photo(chat, None, photo_bytes(seed=4), caption="dots")
    [result] = wait_results(fake, chat, 1)
    assert "Dots" in result["caption"]
    fake.send_text(chat, None, "/style dots:0.7 stripes:0.3")
    said(fake, chat, "next photo", 20)
    fake.send_photo(chat, None, photo_bytes(seed=5))
    results = wait_results(fake, chat, 2)
    assert "Dots 70%" in results[1]["caption"] and "Stripes 30%" in results[1]["caption"]


def test_album_of_two(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1005, "Ed")
    fake.send_album(chat, None, [photo_bytes((100, 50), seed=6), photo_bytes(seed=7)])
    [result] = wait_results(fake, chat, 1)
    assert decode(fake.message_file_bytes(result)).size == (48, 24)
    # The album carried both photos: no "pick a painting" question; one status message besides the result.
    assert not any("Got your photo" in t for t in texts_in(fake, chat))
    assert len(fake.bot_messages(chat.id)) == 2


def test_bad_inputs_get_friendly_replies_and_keep_the_session(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1006, "Fay")
    fake.send_document(chat, None, b"%PDF-1.4\n1 0 obj<<>>endobj\n", file_name="doc.pdf", mime_type="application/pdf")
    said(fake, chat, "isn't an image", 20)
    fake.send_photo(chat, None, photo_bytes(seed=8))
    said(fake, chat, "Got your photo", 20)
    corrupt = photo_bytes(seed=9)[:200]
    fake.send_document(chat, None, corrupt, file_name="broken.jpg", mime_type="image/jpeg")
    said(fake, chat, "couldn't use that style image: it is damaged", 20)
    fake.send_text(chat, None, "/style nosuchstyle")
    said(fake, chat, "Unknown style", 20)
    # The pending photo survived all of that: a style now starts the job.
    fake.send_document(chat, None, photo_bytes(seed=10, fmt="PNG"), file_name="style.png", mime_type="image/png")
    wait_results(fake, chat, 1)


def test_settings_keyboard_persists(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1007, "Gus")
    fake.send_text(chat, None, "/settings")
    menu = keyboard_message(fake, chat, 20)
    fake.press_button(chat, None, menu, "s|strength|high")
    fake.press_button(chat, None, menu, "s|colors|on")
    fake.wait_for(lambda: len(fake.answered_callbacks()) >= 2, 20, "answers")

    def ticked() -> list[str]:
        m = fake.message(chat.id, menu["message_id"]) or {}
        return [
            b["text"] for row in m.get("reply_markup", {}).get("inline_keyboard", []) for b in row if "✓" in b["text"]
        ]

    fake.wait_for(lambda: "✓ Keep photo colours" in ticked(), 20, "colours ticked")
    assert "✓ Strength: high" in ticked()
    fake.send_photo(chat, None, photo_bytes(seed=11), caption="stripes")
    [result] = wait_results(fake, chat, 1)
    assert "high strength" in result["caption"] and "photo colours" in result["caption"]


def test_status_and_cancel(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1008, "Hal")
    fake.send_text(chat, None, "/status")
    said(fake, chat, "no jobs", 20)
    fake.send_photo(chat, None, photo_bytes(seed=12))
    said(fake, chat, "Got your photo", 20)
    fake.send_text(chat, None, "/cancel")
    said(fake, chat, "forgot your pending photo", 20)
    fake.send_text(chat, None, "/cancel")
    fake.wait_for(lambda: any(t == "Nothing to cancel." for t in texts_in(fake, chat)), 20, "nothing to cancel")


def test_styles_gallery(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1009, "Ida")
    fake.send_text(chat, None, "/styles")
    said(fake, chat, "Preset paintings", 30)
    [album] = [c for c in fake.calls_of("sendMediaGroup") if int(c.params["chat_id"]) == chat.id]
    captions = [m.get("caption", "") for m in album.params["media"]]
    assert captions == ["dots – Dots", "stripes – Stripes — Test, 2026"]
    assert all(decode(data).size[0] <= 320 for data in album.uploads.values())


def test_admin_adds_and_removes_a_preset(fake: FakeTelegram, bot: BotProcess) -> None:
    admin, other = fake.private_chat(7, "Admin"), fake.private_chat(1010, "Jo")
    photo = fake.send_photo(admin, None, photo_bytes(seed=20))
    said(fake, admin, "Got your photo", 20)
    fake.send_text(admin, None, "/addstyle waves", reply_to=photo["message_id"])
    fake.wait_for(lambda: any(t == "Added preset waves." for t in texts_in(fake, admin)), 20, "preset added")
    fake.send_photo(other, None, photo_bytes(seed=21), caption="waves")
    [result] = wait_results(fake, other, 1)
    assert "Waves" in result["caption"]
    fake.send_text(other, None, "/delstyle waves")
    said(fake, other, "Only the bot's admins", 20)
    fake.send_text(admin, None, "/delstyle waves")
    fake.wait_for(lambda: any(t == "Removed preset waves." for t in texts_in(fake, admin)), 20, "removed")


def test_telegram_errors_are_retried(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1011, "Kim")
    before = {method: len(fake.calls_of(method)) for method in ("sendPhoto", "getFile")}
    fake.fail_next("sendPhoto", 1, error_code=429, retry_after=1)
    fake.fail_next("getFile", 1, error_code=502)
    fake.send_photo(chat, None, photo_bytes(seed=22), caption="dots")
    [result] = wait_results(fake, chat, 1)
    assert decode(fake.message_file_bytes(result)).size == (48, 32)
    # Each failed call was followed by a successful retry of the same call (429: not before retry_after).
    for method, code, same in (("sendPhoto", 429, "chat_id"), ("getFile", 502, "file_id")):
        calls = fake.calls_of(method)[before[method] :]
        i, failed = next((i, c) for i, c in enumerate(calls) if c.error and c.error["error_code"] == code)
        retry = next((c for c in calls[i + 1 :] if str(c.params.get(same)) == str(failed.params.get(same))), None)
        assert retry is not None and retry.ok, f"{method} answered {code} was not retried successfully"
        if code == 429:
            assert failed.finished is not None and retry.time - failed.finished >= 1.0, "retried before retry_after"
            assert retry.params.get("caption") == failed.params.get("caption")


def test_hd_comes_as_a_document_plus_a_photo(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1012, "Lee")
    fake.send_text(chat, None, "/settings")
    menu = keyboard_message(fake, chat, 20)
    fake.press_button(chat, None, menu, "s|quality|hd")
    fake.wait_for(fake.answered_callbacks, 20, "answer")  # updates are handled in order
    fake.send_photo(chat, None, photo_bytes(seed=23), caption="dots")
    [result] = wait_results(fake, chat, 1)
    document = next(m for m in fake.bot_messages(chat.id) if m.get("document"))
    full = decode(fake.message_file_bytes(document))
    assert full.format == "PNG" and full.size == (48, 32)
    assert "HD" in result["caption"]


def test_oversized_upload_is_refused(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1013, "Max")
    noise = np.random.default_rng(0).integers(0, 255, (800, 800, 3), dtype=np.uint8)
    big = io.BytesIO()
    Image.fromarray(noise).save(big, "PNG")
    assert len(big.getvalue()) > 1_000_000
    fake.send_document(chat, None, big.getvalue(), file_name="big.png", mime_type="image/png")
    said(fake, chat, "the limit is 1 MB", 20)


def test_result_refused_as_photo_goes_as_document(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1014, "Ned")
    fake.fail_next("sendPhoto", 1, error_code=400, description="Bad Request: IMAGE_PROCESS_FAILED")
    fake.send_photo(chat, None, photo_bytes(seed=24), caption="stripes")
    document = fake.wait_for(
        lambda: next((m for m in fake.bot_messages(chat.id) if m.get("document")), None), 120, "document result"
    )
    assert decode(fake.message_file_bytes(document)).size == (48, 32)
    assert document["caption"].startswith("🎨")


def test_token_never_logged(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1015, "Oz")
    # A proxy's error page that echoes the request URL: PTB puts the unparsable body into the error, and
    # the bot logs that error, so the token reaches a log line and only the redaction can keep it out.
    page = f"<html><h1>502 Bad Gateway</h1>upstream failed: POST /bot{fake.token}/getFile</html>"
    fake.fail_next("getFile", 1, error_code=502, raw_body=page.encode())
    fake.send_photo(chat, None, photo_bytes(seed=25), caption="dots")
    wait_results(fake, chat, 1)
    log = bot.log_text()
    assert "upstream failed: POST /bot" in log  # the failure was logged ...
    assert fake.token not in log and fake.token.split(":")[1] not in log  # ... without the token ...
    assert "/bot<token>/getFile" in log  # ... which the redaction replaced


def test_the_log_says_once_which_device_the_workers_paint_on(fake: FakeTelegram, bot: BotProcess) -> None:
    line = "worker 0 ready on CPU (no GPU found)"  # CUDA_VISIBLE_DEVICES="" in these tests
    fake.wait_for(lambda: line in bot.log_text(), 60, "the device line")
    assert bot.log_text().count(line) == 1


def test_typing_a_paintings_name_picks_it(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1016, "Pia")
    fake.send_text(chat, None, "hello")
    said(fake, chat, "Send me a photo to repaint")
    fake.send_photo(chat, None, photo_bytes(seed=26))
    asked = keyboard_message(fake, chat, 30)
    fake.send_text(chat, None, "what now?")
    said(fake, chat, "type a painting's name")
    fake.send_text(chat, None, "Stripes", reply_to=asked["message_id"])
    [result] = wait_results(fake, chat, 1)
    assert "Stripes" in result["caption"]


def test_a_photo_telegram_cannot_serve_yet_is_kept(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(1017, "Quinn")
    fake.fail_next("getFile", 5, error_code=502)  # more than the bot's retries
    fake.send_photo(chat, None, photo_bytes(seed=27))
    said(fake, chat, "Got your photo", 60)
    fake.send_text(chat, None, "dots")
    [result] = wait_results(fake, chat, 1)
    assert "Dots" in result["caption"]


def test_workers_do_not_inherit_the_token(fake: FakeTelegram, bot: BotProcess) -> None:
    pids = fake.wait_for(bot.worker_pids, 60, "the worker processes")
    for pid in pids:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert fake.token.encode() not in environ and b"TELEGRAM_BOT_TOKEN" not in environ
