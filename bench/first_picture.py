"""Time from the style to the first picture: a user sends a photo captioned with a painting's name, and waits.

Run from the repository root::

    python bench/first_picture.py [--runs 12] [--side 256] [--status-interval 3]

The real bot runs in this process against the fake Bot API, with the real instant lane (its own process) and the
production status interval; painting itself is scripted (held), as only the first picture is measured. Each run is
a new user sending one photo (from ../shared/images/content when present, else a generated one) with a preset
caption; measured: from the photo's arrival to the end of the bot's first sendPhoto in that chat (the instant
picture), and to its first answer of any kind. Runs are one after the other, so they measure latency, not load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testing.bot_harness import photo_bytes  # noqa: E402
from testing.fake_telegram import FakeTelegram  # noqa: E402
from testing.inprocess import ScriptedExecutor, running_bot  # noqa: E402

SHARED_CONTENT = ROOT.parent / "shared" / "images" / "content"


def photos(count: int) -> list[bytes]:
    """The photos to send: the shared content images in turn, else generated ones."""
    files = sorted(SHARED_CONTENT.glob("*.jpg")) if SHARED_CONTENT.is_dir() else []
    if not files:
        return [photo_bytes((640, 480), seed=i) for i in range(count)]
    return [files[i % len(files)].read_bytes() for i in range(count)]


def first_call(fake: FakeTelegram, chat_id: int, method: str | None) -> Any:
    """The bot's first finished call to the chat (of `method`, if given)."""
    for call in fake.calls:
        if call.finished is None or call.params.get("chat_id") != chat_id or not call.ok:
            continue
        if method is None or call.method.lower() == method.lower():
            return call
    return None


async def run(args: argparse.Namespace) -> dict[str, object]:
    """All runs; returns the figures."""
    data = Path(tempfile.mkdtemp(prefix="stylebot-first-"))
    executor = ScriptedExecutor(workers=args.runs, hold=True)
    images = await asyncio.to_thread(photos, args.runs)
    pictures, replies = [], []
    with FakeTelegram() as fake:
        async with running_bot(
            fake,
            data,
            executor,
            max_side=args.side,
            status_interval_s=args.status_interval,
            images_per_minute=1000,
            instant_preview=True,
        ) as app:
            lane = app.bot_data.running.instant
            while not lane.ready:
                await asyncio.sleep(0.1)
            load = os.getloadavg()[0]
            for i, image in enumerate(images):
                chat = fake.private_chat(20_000 + i, f"User{i}")
                t0 = time.time()
                fake.send_photo(chat, None, image, caption="dots")
                picture = await fake.wait_for_async(lambda c=chat: first_call(fake, c.id, "sendPhoto"), 60, "picture")
                reply = first_call(fake, chat.id, None)
                pictures.append(picture.finished - t0)
                replies.append(reply.finished - t0)
            executor.release()
    return {
        "runs": args.runs,
        "side": args.side,
        "status_interval_s": args.status_interval,
        "first_picture_median_s": round(statistics.median(pictures), 2),
        "first_picture_max_s": round(max(pictures), 2),
        "first_reply_median_s": round(statistics.median(replies), 3),
        "load_average_1min": round(load, 1),
        "pictures_s": [round(p, 2) for p in pictures],
    }


def main() -> None:
    """Parse the arguments, run, print a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--side", type=int, default=256, help="the instant picture's longest side")
    parser.add_argument("--status-interval", type=float, default=3.0, help="STYLEBOT_STATUS_INTERVAL_S")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
