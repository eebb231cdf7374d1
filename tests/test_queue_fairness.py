"""The queue as users see it: one user's many jobs do not hold back another's, and positions follow the queue.

In-process against the fake Bot API with a scripted executor of one worker (the pool's real processes have
their own end-to-end tests in test_bot_durability.py; the cluster's in test_cluster_*.py).
"""

from __future__ import annotations

from pathlib import Path

from testing.bot_harness import photo_bytes
from testing.fake_telegram import FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, texts, until


async def test_a_user_with_one_job_does_not_wait_behind_anothers_many(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, jobs_per_user=5):
        ann, bob = fake.private_chat(2101, "Ann"), fake.private_chat(2102, "Bob")
        for seed in range(3):
            fake.send_photo(ann, None, photo_bytes(seed=seed), caption="dots")
        # A status is a text, then the instant picture's caption (the text is deleted): count either.
        await until(fake, lambda: sum(("⏳" in t or "🎨" in t) for t in texts(fake, ann)) >= 3, "ann's 3 jobs", 60)
        fake.send_photo(bob, None, photo_bytes(seed=9), caption="stripes")
        await said(fake, bob, "⏳ Queued – position 1", 60)  # ahead of Ann's two waiting jobs
        await until(fake, lambda: executor.submitted, "ann's first job painting", 60)  # after its instant picture
        executor.release_running()  # Ann's first job ends; Bob's starts next
        await until(fake, lambda: len(executor.submitted) == 2, "the second job submitted", 60)
        assert [r.job_id for r in executor.submitted] == [1, 4]
        # Ann's next job moved up to position 1 and her status message says so.
        await until(fake, lambda: any("⏳ Queued – position 1" in t for t in edits_of(fake, ann.id)), "p1", 60)
        executor.release()
        await until(fake, lambda: len(results(fake, ann)) == 3 and len(results(fake, bob)) == 1, "every result", 60)
        assert [r.job_id for r in executor.submitted] == [1, 4, 2, 3]


def edits_of(fake: FakeTelegram, chat_id: int) -> list[str]:
    """Texts of the bot's status edits in a chat (captions where the status is the instant picture's)."""
    calls = fake.calls_of("editMessageText") + fake.calls_of("editMessageCaption")
    return [c.params.get("text") or c.params.get("caption", "") for c in calls if int(c.params["chat_id"]) == chat_id]
