"""End to end in groups (privacy mode on), inline sharing, remix buttons, blends and the making-of."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from testing.bot_harness import (
    BotProcess,
    decode,
    make_presets,
    photo_bytes,
    result_photos,
    said,
    texts_in,
    wait_results,
)
from testing.fake_telegram import Chat, FakeTelegram, User

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]  # the bot as a process: skip with -m "not slow"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(privacy_mode=True) as server:
        yield server


@pytest.fixture(scope="module")
def bot(fake: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    data = tmp_path_factory.mktemp("groupbot")
    make_presets(data / "styles")
    process = BotProcess(fake, data, STYLEBOT_STEPS="6", STYLEBOT_JOBS_PER_USER="10").start()
    yield process
    process.stop()


def keyboard_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline buttons of a message, flattened."""
    return [b for row in message.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


def job_params(bot: BotProcess) -> list[dict[str, Any]]:
    """Every job's parameters, read from the bot's real SQLite file."""
    with sqlite3.connect(bot.data_dir / "stylebot.sqlite3") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT params FROM jobs ORDER BY id")]


def results_for(fake: FakeTelegram, chat: Chat, name: str) -> list[dict[str, Any]]:
    """Results in a group credited to `name`."""
    return [m for m in result_photos(fake, chat) if m["caption"].endswith(f"for {name}")]


def test_group_commands_are_registered_per_scope(fake: FakeTelegram, bot: BotProcess) -> None:
    group = {c["command"] for c in fake.commands_for({"type": "all_group_chats"})}
    private = {c["command"] for c in fake.commands_for({"type": "all_private_chats"})}
    assert {"stylize", "groupsettings", "again"} <= group
    assert "settings" in private and "stylize" not in private and "groupsettings" not in private


def test_two_members_work_at_once_with_their_own_keyboards(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.group_chat(3001, "Painters")
    ann, bob = fake.user(31, "Ann"), fake.user(32, "Bob")
    photo_a = fake.send_photo(chat, ann, photo_bytes((96, 64), seed=1))
    photo_b = fake.send_photo(chat, bob, photo_bytes((64, 96), seed=2))
    assert not any(u.get("message", {}).get("photo") for u in fake.pending_updates())  # privacy mode hides them
    fake.send_text(chat, ann, "/stylize", reply_to=photo_a["message_id"])
    fake.send_text(chat, bob, "/stylize", reply_to=photo_b["message_id"])
    menus = fake.wait_for(
        lambda: (
            (m := [x for x in fake.bot_messages(chat.id) if "pick a painting" in (x.get("text") or "")])
            and len(m) == 2
            and m
        ),
        30,
        "two keyboards",
    )
    menu_a = next(m for m in menus if m["text"].startswith("Ann"))
    menu_b = next(m for m in menus if m["text"].startswith("Bob"))
    # Bob taps Ann's keyboard: politely turned away, nothing starts.
    fake.press_button(chat, bob, menu_a, keyboard_of(menu_a)[0]["callback_data"])
    fake.wait_for(
        lambda: any("someone else" in c.params.get("text", "") for c in fake.answered_callbacks()), 20, "refusal"
    )
    fake.press_button(chat, ann, menu_a, "p|dots|31")
    fake.press_button(chat, bob, menu_b, "p|stripes|32")
    wait_results(fake, chat, 2)
    [for_ann], [for_bob] = results_for(fake, chat, "Ann"), results_for(fake, chat, "Bob")
    assert "Dots" in for_ann["caption"] and "Stripes" in for_bob["caption"]
    assert for_ann["reply_to_message"]["message_id"] == photo_a["message_id"]
    assert decode(fake.message_file_bytes(for_ann)).size == (48, 32)
    assert decode(fake.message_file_bytes(for_bob)).size == (32, 48)


def test_reply_with_preset_with_style_photo_and_botname(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.group_chat(3002)
    cy = fake.user(33, "Cy")
    photo = fake.send_photo(chat, cy, photo_bytes(seed=3))
    fake.send_text(chat, cy, "/stylize@stylebot_test_bot dots", reply_to=photo["message_id"])
    wait_results(fake, chat, 1)
    fake.send_text(chat, cy, "/stylize@otherbot dots", reply_to=photo["message_id"])  # not for us
    fake.send_photo(chat, cy, photo_bytes(seed=4), caption="/stylize", reply_to=photo["message_id"])
    results = wait_results(fake, chat, 2)
    assert "your style photo" in results[1]["caption"]
    fake.send_text(chat, cy, "/stylize dots stripes", reply_to=photo["message_id"])  # equal shares
    results = wait_results(fake, chat, 3)
    assert "Dots 50%" in results[2]["caption"] and "Stripes 50%" in results[2]["caption"]
    # Chatter in reply to a result is not a style request; a style name is.
    fake.send_text(chat, cy, "wow!", reply_to=results[0]["message_id"])
    fake.send_text(chat, cy, "stripes", reply_to=results[0]["message_id"])
    results = wait_results(fake, chat, 4)
    assert "Stripes" in results[3]["caption"]
    assert not any("Unknown style" in t for t in texts_in(fake, chat))
    assert len(result_photos(fake, chat)) == 4


def test_group_admin_caps_quality(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.group_chat(3003)
    admin, member = fake.user(34, "Dee"), fake.user(35, "Eli")
    fake.set_admin(chat.id, admin.id)
    fake.send_text(chat, member, "/groupsettings")
    said(fake, chat, "Only the group's admins", 20)
    fake.send_text(chat, admin, "/groupsettings")
    menu = fake.wait_for(
        lambda: next((m for m in fake.bot_messages(chat.id) if "Highest quality" in (m.get("text") or "")), None),
        20,
        "group settings",
    )
    fake.press_button(chat, admin, menu, "g|preview")

    def ticked() -> bool:
        return any("✓ Max Preview" in b["text"] for b in keyboard_of(fake.message(chat.id, menu["message_id"]) or {}))

    fake.wait_for(ticked, 20, "cap ticked")
    photo = fake.send_photo(chat, member, photo_bytes(seed=5))
    fake.send_text(chat, member, "/stylize dots", reply_to=photo["message_id"])
    [result] = wait_results(fake, chat, 1)
    assert "preview" in result["caption"]


def test_remix_buttons_again_making_of_and_sharing(fake: FakeTelegram, bot: BotProcess) -> None:
    chat = fake.private_chat(3101, "Flo")
    flo = chat.user
    assert isinstance(flo, User)
    fake.send_photo(chat, None, photo_bytes(seed=6), caption="dots")
    [first] = wait_results(fake, chat, 1)
    buttons = {b["text"]: b for b in keyboard_of(first)}
    share = next(b for b in buttons.values() if "switch_inline_query" in b)
    assert share["switch_inline_query"].startswith("#") and "Dots" in first["caption"]

    # Making of: an animation with more than one frame.
    fake.press_button(chat, None, first, next(b["callback_data"] for t, b in buttons.items() if "Making of" in t))
    animation = fake.wait_for(lambda: fake.calls_of("sendAnimation"), 30, "making-of animation")[0]
    gif = Image.open(io.BytesIO(next(iter(animation.uploads.values()))))
    assert gif.n_frames > 1

    # Each remix button starts a job whose settings differ as the button says.
    before = len(job_params(bot))
    for label in ("Stronger", "Weaker", "Keep colours", "HD", "Again"):
        fake.press_button(chat, None, first, next(b["callback_data"] for t, b in buttons.items() if label in t))
    results = wait_results(fake, chat, 6)
    params = job_params(bot)[before:]
    assert [p["strength"] for p in params] == ["high", "low", "medium", "medium", "medium"]
    assert [p["keep_colors"] for p in params] == [False, False, True, False, False]
    assert [p["quality"] for p in params] == ["standard", "standard", "standard", "hd", "standard"]
    assert len({p["seed"] for p in params}) == 5 and all(p["seed"] for p in params)
    captions = [r["caption"] for r in results[1:]]
    assert "high strength" in captions[0] and "low strength" in captions[1] and "photo colours" in captions[2]
    assert any("HD" in c for c in captions)

    # /again: the last job once more, with yet another seed.
    fake.send_text(chat, None, "/again")
    wait_results(fake, chat, 7)
    assert job_params(bot)[-1]["seed"] not in {p["seed"] for p in params}

    # A reply to a result with a preset name, or with a style photo, restyles the original photo.
    fake.send_text(chat, None, "stripes", reply_to=first["message_id"])
    results = wait_results(fake, chat, 8)
    assert "Stripes" in results[-1]["caption"]
    fake.send_photo(chat, None, photo_bytes(seed=7), reply_to=first["message_id"])
    results = wait_results(fake, chat, 9)
    assert "your style photo" in results[-1]["caption"]
    assert not any("Got your photo" in t for t in texts_in(fake, chat))

    # Inline mode: the user's results come back as cached photos, the shared one first.
    fake.inline_query(flo, share["switch_inline_query"])
    answer = fake.wait_for(fake.inline_answers, 20, "inline answer")[-1]
    photos = [r for r in answer.params["results"] if r["type"] == "photo"]
    result_ids = {r["photo"][-1]["file_id"] for r in result_photos(fake, chat)}
    assert photos[0]["photo_file_id"] == first["photo"][-1]["file_id"]
    assert {p["photo_file_id"] for p in photos if p["id"].startswith("r")} <= result_ids
    assert [r["id"] for r in answer.params["results"] if r["id"].startswith("p")] == ["pdots", "pstripes"]
