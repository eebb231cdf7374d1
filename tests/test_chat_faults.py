"""Chat-side faults of issue 17: floods, forum topics, linked channels, lying file sizes, photo status messages.

The real Application runs in-process against the fake Bot API (Telegram's real error texts) with a scripted executor.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from tests.bot_harness import photo_bytes
from tests.fake_telegram import FakeTelegram
from tests.inprocess import ScriptedExecutor, running_bot, said, texts


def job_states(data: Path) -> dict[int, str]:
    """Job id -> status, read from the bot's database file."""
    with sqlite3.connect(data / "stylebot.sqlite3") as conn:
        return dict(conn.execute("SELECT id, status FROM jobs").fetchall())


async def test_a_flood_is_refused_before_any_download_and_answered_once(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(hold=True), instant_preview=False):
        chat = fake.private_chat(901, "Flo")
        for seed in range(40):  # issue 17: 40 photos in 10 s, each captioned with a painting (a job each)
            fake.send_photo(chat, None, photo_bytes(seed=seed), caption="dots")
            await asyncio.sleep(0.25)
        fake.send_text(chat, None, "/help")
        await said(fake, chat, "Commands")  # one sender's updates are handled in order: the photos came first
        assert len(job_states(tmp_path)) == 3  # STYLEBOT_JOBS_PER_USER
        # Only the three jobs' photos were fetched; the refused ones were never downloaded, decoded or cached.
        assert len(fake.calls_of("getFile")) == 3
        assert len(fake.downloads) == 3
        assert len(list((tmp_path / "files").iterdir())) == 3
        refusals = [t for t in texts(fake, chat) if "job(s) waiting" in t or "faster than I can look" in t]
        assert len(refusals) == 1, refusals  # 37 refusals (the cap, then 20 images a minute), one reply
