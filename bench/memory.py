"""Memory benchmark: the bot process's resident memory under a flood of huge PNG documents.

Run from the repository root::

    python bench/memory.py [--documents 5] [--side 7000] [--accepted-side 4800]

The bot runs as its own process (as in production, with one worker) against the fake Bot API. Users send
PNG documents of `--side` px (over the document pixel cap: refused from their header) and of
`--accepted-side` px (under the cap, captioned with a painting: downloaded, decoded and queued). The bot
process's peak RSS is sampled every 50 ms (its workers are separate processes and not counted), together with
how long another user's /help took to be answered meanwhile.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testing.bot_harness import BotProcess, make_presets  # noqa: E402
from testing.fake_telegram import FakeTelegram  # noqa: E402


def png(side: int, seed: int) -> bytes:
    """A large PNG that compresses well (a few hundred KB), like the issue's 208 KB 7000x7000 files."""
    image = Image.new("RGB", (side, side), (seed * 40 % 255, 90, 160))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def main() -> None:
    """Flood the bot and print the peak RSS and the other user's answer time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=5)
    parser.add_argument("--side", type=int, default=7000)
    parser.add_argument("--accepted-side", type=int, default=4800)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="stylebot-memory-"))
    make_presets(data / "styles")
    with FakeTelegram() as fake:
        bot = BotProcess(fake, data).start()
        try:
            assert bot.proc is not None
            process = psutil.Process(bot.proc.pid)
            idle_mb = process.memory_info().rss / 1e6
            peak = [idle_mb]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.05):
                    peak[0] = max(peak[0], process.memory_info().rss / 1e6)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            huge, accepted = png(args.side, 1), png(args.accepted_side, 2)
            for i in range(args.documents):
                sender = fake.private_chat(500 + i, f"Flood{i}")
                fake.send_document(sender, None, huge, file_name="huge.png", mime_type="image/png", caption="dots")
                fake.send_document(sender, None, accepted, file_name="big.png", mime_type="image/png", caption="dots")
            other = fake.private_chat(999, "Other")
            t0 = time.time()
            fake.send_text(other, None, "/help")
            reply = fake.wait_for(lambda: fake.first_reply_after(other.id, t0), 60, "the other user's answer")
            answers = fake.wait_for(
                lambda: (
                    len([c for c in fake.calls_of("sendMessage") if c.params.get("chat_id", 0) >= 500])
                    >= 2 * args.documents
                    or None
                ),
                300,
                "an answer to every document",
            )
            stop.set()
            sampler.join()
        finally:
            bot.stop()
    result = {
        "documents": 2 * args.documents,
        "huge_px": f"{args.side}x{args.side}",
        "accepted_px": f"{args.accepted_side}x{args.accepted_side}",
        "png_kb": [round(len(huge) / 1e3), round(len(accepted) / 1e3)],
        "idle_rss_mb": round(idle_mb),
        "peak_rss_mb": round(peak[0]),
        "other_user_answer_s": round(reply.finished - t0, 2),
        "answered": bool(answers),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
