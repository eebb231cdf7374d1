"""Runs the real bot (`python -m bot`) as a process against the fake Bot API, as a user would meet it."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from testing.fake_telegram import Chat, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def photo_bytes(size: tuple[int, int] = (96, 64), seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A small synthetic photo: a gradient with shapes, different per seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    grad = np.linspace(0, 255, w, dtype=np.float32)[np.newaxis, :, np.newaxis]
    base = np.broadcast_to(grad, (h, w, 3)) * rng.uniform(0.3, 1.0, 3)
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, w - 10)), int(rng.integers(0, h - 10))
        draw.ellipse((x, y, x + w // 4, y + h // 4), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_presets(directory: Path) -> None:
    """Two preset paintings (generated), with a manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(("stripes", "dots")):
        (directory / f"{name}.jpg").write_bytes(photo_bytes((80, 80), seed=100 + i))
    manifest = {"stripes": {"title": "Stripes", "artist": "Test", "year": "2026"}}
    (directory / "manifest.json").write_text(json.dumps(manifest))


class BotProcess:
    """`python -m bot` with test settings; restartable, killable."""

    def __init__(self, fake: FakeTelegram, data_dir: Path, **env: str) -> None:
        self.fake, self.data_dir = fake, data_dir
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_URL": fake.base_url,
            "TELEGRAM_FILE_API_URL": fake.base_file_url,
            "STYLEBOT_DATA_DIR": str(data_dir),
            "STYLEBOT_WEIGHTS": "random",
            "STYLEBOT_MAX_SIDE": "48",
            "STYLEBOT_STEPS": "4",
            "STYLEBOT_WORKERS": "1",
            "STYLEBOT_STATUS_INTERVAL_S": "0",
            "STYLEBOT_POLL_TIMEOUT_S": "1",
            "CUDA_VISIBLE_DEVICES": "",
            # These tests are about processes, restarts and crashes; the instant picture has its own tests.
            "STYLEBOT_INSTANT_PREVIEW": "off",
            "PYTHONPATH": str(ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "bot.log"

    def start(self) -> BotProcess:
        """Start the bot and wait until its commands are registered (post_init done)."""
        before = len(self.fake.calls_of("setMyCommands"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.fake.wait_for(lambda: len(self.fake.calls_of("setMyCommands")) >= before + 2, 60, "bot start-up")
        return self

    def kill(self) -> None:
        """SIGKILL the bot (its workers notice and exit on their own)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Stop the bot like Ctrl-C."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def worker_pids(self) -> list[int]:
        """Process ids of the bot's worker processes."""
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid), "-f", "spawn_main"], check=False, capture_output=True, text=True
        ).stdout
        return [int(p) for p in out.split()]

    def log_text(self) -> str:
        """What the bot logged."""
        return self.log.read_text(errors="replace")


def texts_in(fake: FakeTelegram, chat: Chat) -> list[str]:
    """Texts (and captions) of the bot's messages in a chat, in order, edits applied."""
    return [m.get("text") or m.get("caption") or "" for m in fake.bot_messages(chat.id)]


def said(fake: FakeTelegram, chat: Chat, fragment: str, timeout: float = 30) -> str:
    """Wait until one of the bot's messages in the chat contains `fragment`; return that text."""
    return fake.wait_for(
        lambda: next((t for t in texts_in(fake, chat) if fragment in t), None), timeout, f"a message with {fragment!r}"
    )


def keyboard_message(fake: FakeTelegram, chat: Chat, timeout: float = 30) -> dict[str, Any]:
    """Wait for the first bot message in the chat that carries an inline keyboard."""
    return fake.wait_for(
        lambda: next((m for m in fake.bot_messages(chat.id) if m.get("reply_markup")), None), timeout, "a keyboard"
    )


def result_photos(fake: FakeTelegram, chat: Chat) -> list[dict[str, Any]]:
    """The bot's result photos in a chat (photos with a caption starting with the palette)."""
    return [m for m in fake.bot_messages(chat.id) if m.get("photo") and (m.get("caption") or "").startswith("🎨")]


def decode(data: bytes) -> Image.Image:
    """Decode image bytes fully."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def wait_results(fake: FakeTelegram, chat: Chat, count: int, timeout: float = 120) -> list[dict[str, Any]]:
    """Wait until `count` results are in the chat."""
    return fake.wait_for(
        lambda: (r := result_photos(fake, chat)) and len(r) >= count and r, timeout, f"{count} result(s)"
    )


def elapsed(since: float) -> float:
    """Seconds since a monotonic time."""
    return time.monotonic() - since
