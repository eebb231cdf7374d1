"""Start-up as an operator meets it: `python -m bot` with a broken setup says what to fix in one line."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.telegram.startup import check_telegram
from testing.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
REAL_LOOKING_TOKEN = "123456789:AAE-operator_token_that_is_not_the_fake"


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot` in an empty directory (no .env) with only these variables."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "STYLEBOT_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], *advice: str, token: str = "") -> str:
    """Exit status 2, exactly one non-empty stderr line with the advice, no traceback, no token; the line."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("stylebot: error: ")
    for words in advice:
        assert words in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    if token:
        assert token not in done.stderr + done.stdout
        secret = token.partition(":")[2]
        assert not secret or secret not in done.stderr + done.stdout
    return lines[0]


@pytest.mark.slow  # starts a process
def test_unreachable_api(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot"
    done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=REAL_LOOKING_TOKEN, TELEGRAM_API_URL=url)
    line = assert_one_line_error(
        done, "cannot reach Telegram at", "check the network or TELEGRAM_API_URL", token=REAL_LOOKING_TOKEN
    )
    assert url in line


@pytest.mark.slow  # starts a process
def test_malformed_token(tmp_path: Path) -> None:
    done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN="abc")
    assert_one_line_error(done, "TELEGRAM_BOT_TOKEN", "@BotFather", token="abc")


@pytest.mark.slow  # starts a process
def test_missing_weights_file(tmp_path: Path) -> None:
    missing = tmp_path / "models" / "vgg19.weights.h5"
    done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=REAL_LOOKING_TOKEN, STYLEBOT_WEIGHTS=str(missing))
    assert_one_line_error(done, "STYLEBOT_WEIGHTS", str(missing), "does not exist", token=REAL_LOOKING_TOKEN)


@pytest.mark.slow  # starts a process
def test_refused_token(tmp_path: Path, fake: FakeTelegram) -> None:
    done = run_bot(
        tmp_path,
        TELEGRAM_BOT_TOKEN=REAL_LOOKING_TOKEN,  # not the fake's: it answers 401 Unauthorized
        TELEGRAM_API_URL=fake.base_url,
        TELEGRAM_FILE_API_URL=fake.base_file_url,
    )
    assert_one_line_error(done, "Telegram refused the token", "TELEGRAM_BOT_TOKEN", token=REAL_LOOKING_TOKEN)
    assert fake.calls == []  # the fake records authorised calls only: nothing got further than getMe


@pytest.mark.slow  # starts a process
def test_debug_level_adds_the_traceback_but_never_the_token(tmp_path: Path, fake: FakeTelegram) -> None:
    done = run_bot(
        tmp_path,
        TELEGRAM_BOT_TOKEN=REAL_LOOKING_TOKEN,
        TELEGRAM_API_URL=fake.base_url,
        STYLEBOT_LOG_LEVEL="DEBUG",
    )
    assert done.returncode == 2
    assert "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("stylebot: error: Telegram refused the token")
    assert REAL_LOOKING_TOKEN.partition(":")[2] not in done.stderr + done.stdout


@pytest.mark.slow  # starts a process
def test_unknown_arguments_are_a_usage_error(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "--frobnicate"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "usage: stylebot" in bad.stderr and "stylebot: error: unknown arguments: --frobnicate" in bad.stderr


async def test_check_telegram_accepts_the_fake(fake: FakeTelegram) -> None:
    settings = Settings(token=fake.token, api_url=fake.base_url, file_api_url=fake.base_file_url)
    assert await check_telegram(settings) is None
    assert [call.method for call in fake.calls] == ["getMe"]


async def test_check_telegram_explains_a_refused_token(fake: FakeTelegram) -> None:
    settings = Settings(token=REAL_LOOKING_TOKEN, api_url=fake.base_url, file_api_url=fake.base_file_url)
    problem = await check_telegram(settings)
    assert problem == "Telegram refused the token: check TELEGRAM_BOT_TOKEN (from @BotFather)"


async def test_check_telegram_explains_an_unreachable_server() -> None:
    url = f"http://127.0.0.1:{closed_port()}/bot"
    problem = await check_telegram(Settings(token=REAL_LOOKING_TOKEN, api_url=url))
    assert problem is not None
    assert problem.startswith(f"cannot reach Telegram at {url}: check the network or TELEGRAM_API_URL")
