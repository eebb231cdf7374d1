"""A 4 s GIF through the whole bot: from the user's message to the painted GIF in the chat (the issue: within 10 s).

Run from the repository root::

    python bench/clip_bot.py [--runs 5] [--seconds 4] [--status-interval 3]

The real bot runs in this process against the fake Bot API, with the production status interval; the clip is
painted by the worker's own code (bot.jobs.painting.paint) in a thread of this process, as a local worker process
would, minus the process. Each run is a new user sending a GIF as Telegram hands one to bots (an MP4 animation) cut
from bikes.mp4 at 384 px, captioned with a painting's name (Starry Night when ../shared is there). Measured: from
the message's arrival to the end of the bot's first picture in the chat (the first painted frame), and to the end
of its sendAnimation (download, probe, paint, blend, encode, upload). Runs are one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testing.clip_sources import cut_mp4, data_dir, style_image  # noqa: E402
from testing.fake_telegram import FakeTelegram  # noqa: E402
from testing.inprocess import PaintingExecutor, running_bot  # noqa: E402

STARRY_NIGHT = ROOT.parent / "shared" / "images" / "styles" / "starry_night.jpg"
PICTURES = {"sendphoto", "editmessagemedia"}


def styles_folder(folder: Path) -> Path:
    """A preset folder with one painting, "starry": Starry Night when the shared images are there."""
    folder.mkdir(parents=True)
    if STARRY_NIGHT.is_file():
        shutil.copy(STARRY_NIGHT, folder / "starry.jpg")
    else:
        style_image().save(folder / "starry.jpg")
    (folder / "manifest.json").write_text(json.dumps({"starry": {"title": "Starry", "artist": "-", "year": "-"}}))
    return folder


def first(fake: FakeTelegram, chat_id: int, methods: set[str]) -> Any:
    """The bot's first finished, successful call of one of `methods` to the chat."""
    for call in fake.calls:
        to_chat = call.finished is not None and call.ok and call.params.get("chat_id") == chat_id
        if to_chat and call.method.lower() in methods:
            return call
    return None


async def run(args: argparse.Namespace) -> dict[str, object]:
    """All runs; returns the figures."""
    data = Path(tempfile.mkdtemp(prefix="stylebot-clip-"))
    clip = await asyncio.to_thread(cut_mp4, data_dir() / "bikes.mp4", data / "gif.mp4", side=384, seconds=args.seconds)
    styles = styles_folder(data / "presets")
    frames, results = [], []
    with FakeTelegram() as fake:
        async with running_bot(
            fake,
            data / "bot",
            PaintingExecutor(),
            styles_dir=styles,
            status_interval_s=args.status_interval,
            instant_preview=True,  # the default: the status shows the first painted frame
        ):
            load = os.getloadavg()[0]
            for i in range(args.runs):
                chat = fake.private_chat(30_000 + i, f"User{i}")
                t0 = time.time()
                fake.send_clip(chat, None, clip.read_bytes(), kind="animation", caption="starry")
                done = await fake.wait_for_async(
                    lambda c=chat: first(fake, c.id, {"sendanimation"}), 120, "the painted GIF"
                )
                picture = first(fake, chat.id, PICTURES)
                results.append(done.finished - t0)
                frames.append(picture.finished - t0 if picture is not None else float("nan"))
    shutil.rmtree(data, ignore_errors=True)
    return {
        "runs": args.runs,
        "clip_seconds": args.seconds,
        "status_interval_s": args.status_interval,
        "painting": "Starry Night" if STARRY_NIGHT.is_file() else "made-up",
        "gif_back_median_s": round(statistics.median(results), 2),
        "gif_back_max_s": round(max(results), 2),
        "first_frame_median_s": round(statistics.median(frames), 2),
        "load_average_1min": round(load, 1),
        "gif_back_s": [round(r, 2) for r in results],
    }


def main() -> None:
    """Parse the arguments, run, print a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="the GIF's length")
    parser.add_argument("--status-interval", type=float, default=3.0, help="STYLEBOT_STATUS_INTERVAL_S")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
