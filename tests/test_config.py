"""Settings.from_env validates everything before anything connects; worker_env quiets TensorFlow."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import ConfigError, Settings, WorkerSettings, variables
from bot.jobs.factory import local_hardware

TOKEN = "123456789:AAE-abcdefghijklmnopqrstuvwxyz_01234"


def settings(**env: str) -> Settings:
    """Settings from a valid token plus these variables."""
    return Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, **env})


@pytest.mark.parametrize(
    "token",
    [
        TOKEN,
        "1:" + "a" * 35,
        "7234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        "999000:FAKE-token_of-the-fake-Bot-API-0000",
    ],
)
def test_real_token_shapes_are_accepted(token: str) -> None:
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": f"  {token}\n"}).token == token


@pytest.mark.parametrize(
    ("token", "hint"),
    [
        ("abc", "digits, a colon, 35 letters"),
        ("123456789", "digits, a colon, 35 letters"),
        ("123456789:short", "digits, a colon, 35 letters"),
        (":AAE-abcdefghijklmnopqrstuvwxyz_01234", "digits, a colon, 35 letters"),
        ("123456789:AAE-abcdefghijklmnopqrst/vwxyz_01234", "digits, a colon, 35 letters"),
        (f"bot{TOKEN}", "leave out the leading 'bot'"),
        (f"'{TOKEN}", "spaces or quotes"),
        (f"{TOKEN[:20]} {TOKEN[20:]}", "spaces or quotes"),
    ],
)
def test_malformed_tokens_are_refused_without_repeating_them(token: str, hint: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not a bot token") as caught:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": token})
    assert hint in str(caught.value)
    assert token.strip("'") not in str(caught.value)


@pytest.mark.parametrize("url", ["api.telegram.org/bot", "ftp://host/bot", "http:///bot", "https//x"])
def test_api_urls_must_be_http_urls(url: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_API_URL must be an http"):
        settings(TELEGRAM_API_URL=url)
    with pytest.raises(ConfigError, match="TELEGRAM_FILE_API_URL must be an http"):
        settings(TELEGRAM_FILE_API_URL=url)


def test_api_urls_default_and_pass_through() -> None:
    assert settings().api_url == "https://api.telegram.org/bot"
    assert settings(TELEGRAM_API_URL="http://127.0.0.1:8081/bot").api_url == "http://127.0.0.1:8081/bot"


def test_weights_keywords_and_files(tmp_path: Path) -> None:
    assert settings().weights == "imagenet"
    assert settings(STYLEBOT_WEIGHTS="Random").weights == "random"
    weights = tmp_path / "vgg19.weights.h5"
    weights.write_bytes(b"\x89HDF")
    assert settings(STYLEBOT_WEIGHTS=str(weights)).weights == str(weights)
    with pytest.raises(ConfigError, match=r"STYLEBOT_WEIGHTS: .*missing\.h5 does not exist"):
        settings(STYLEBOT_WEIGHTS=str(tmp_path / "missing.h5"))
    with pytest.raises(ConfigError, match="is a directory"):
        settings(STYLEBOT_WEIGHTS=str(tmp_path))


def test_backbone_is_checked_early() -> None:
    assert settings(STYLEBOT_BACKBONE="VGG16").backbone == "vgg16"
    with pytest.raises(ConfigError, match="STYLEBOT_BACKBONE must be one of vgg19, vgg16; got 'resnet'"):
        settings(STYLEBOT_BACKBONE="resnet")


def test_directories_must_not_be_files(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="STYLEBOT_DATA_DIR must be a directory"):
        settings(STYLEBOT_DATA_DIR=str(afile))
    with pytest.raises(ConfigError, match="STYLEBOT_STYLES_DIR must be a directory"):
        settings(STYLEBOT_STYLES_DIR=str(afile))
    assert settings(STYLEBOT_DATA_DIR=str(tmp_path / "new")).styles_dir == tmp_path / "new" / "styles"
    (tmp_path / "styles").write_text("x")  # the default styles folder, inside the data folder, is a file
    with pytest.raises(ConfigError, match="STYLEBOT_STYLES_DIR must be a directory"):
        settings(STYLEBOT_DATA_DIR=str(tmp_path))


def test_log_level() -> None:
    assert settings().log_level == "INFO"
    assert settings().log_level_number == logging.INFO
    assert settings(STYLEBOT_LOG_LEVEL="debug").log_level_number == logging.DEBUG
    assert settings(STYLEBOT_LOG_LEVEL="warn").log_level == "WARNING"
    with pytest.raises(ConfigError, match="STYLEBOT_LOG_LEVEL must be one of DEBUG, INFO"):
        settings(STYLEBOT_LOG_LEVEL="loud")


def test_worker_env_silences_tensorflow_unless_debugging() -> None:
    quiet = settings().worker_env()
    assert quiet["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert quiet["STYLEBOT_LOG_LEVEL"] == "INFO"
    loud = settings(STYLEBOT_LOG_LEVEL="DEBUG").worker_env()
    assert loud["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert all(isinstance(v, str) for v in {**quiet, **loud}.values())


def test_webhook_mode_needs_an_https_url_and_a_secret() -> None:
    assert settings().webhook_url is None  # polling by default
    hook = settings(STYLEBOT_WEBHOOK_URL="https://bot.example.org/tg", STYLEBOT_WEBHOOK_SECRET="abc_DEF-123")
    assert (hook.webhook_url, hook.webhook_listen, hook.webhook_port) == ("https://bot.example.org/tg", "0.0.0.0", 8443)
    assert "abc_DEF" not in repr(hook)
    with pytest.raises(ConfigError, match="STYLEBOT_WEBHOOK_SECRET is required"):
        settings(STYLEBOT_WEBHOOK_URL="https://bot.example.org/tg")
    with pytest.raises(ConfigError, match="https"):
        settings(STYLEBOT_WEBHOOK_URL="http://bot.example.org/tg", STYLEBOT_WEBHOOK_SECRET="abc")
    with pytest.raises(ConfigError, match="letters, digits"):
        settings(STYLEBOT_WEBHOOK_URL="https://bot.example.org/tg", STYLEBOT_WEBHOOK_SECRET="no spaces allowed")
    with pytest.raises(ConfigError, match="must differ"):
        settings(
            STYLEBOT_WEBHOOK_URL="https://h/tg",
            STYLEBOT_WEBHOOK_SECRET="s",
            STYLEBOT_WEBHOOK_PORT="9000",
            STYLEBOT_METRICS_PORT="9000",
        )


def test_metrics_and_log_format_settings() -> None:
    plain = settings()
    assert (plain.metrics_port, plain.metrics_host, plain.log_format) == (None, "127.0.0.1", "text")
    ops = settings(STYLEBOT_METRICS_PORT="9108", STYLEBOT_METRICS_HOST="0.0.0.0", STYLEBOT_LOG_FORMAT="JSON")
    assert (ops.metrics_port, ops.metrics_host, ops.log_format) == (9108, "0.0.0.0", "json")
    with pytest.raises(ConfigError, match="STYLEBOT_LOG_FORMAT"):
        settings(STYLEBOT_LOG_FORMAT="xml")
    with pytest.raises(ConfigError, match="STYLEBOT_METRICS_PORT"):
        settings(STYLEBOT_METRICS_PORT="70000")


def test_the_environment_wins_over_the_dot_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nSTYLEBOT_JOBS_PER_USER=7\nSTYLEBOT_QUEUE_LENGTH=50\n")
    monkeypatch.setenv("STYLEBOT_JOBS_PER_USER", "9")
    monkeypatch.setenv("STYLEBOT_QUEUE_LENGTH", "")  # empty: the file fills it in, as unset would
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    read = Settings.from_env(env_file=env_file)
    assert (read.token, read.jobs_per_user, read.queue_length) == (TOKEN, 9, 50)


def test_a_bad_value_in_the_dot_env_file_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nSTYLEBOT_CACHE_MB=lots\n")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("STYLEBOT_CACHE_MB", raising=False)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env_file=env_file)
    assert str(caught.value) == "STYLEBOT_CACHE_MB must be a whole number from 10 to 1000000; got 'lots'"
    assert TOKEN not in str(caught.value)


def test_the_worker_settings_are_a_subset_without_the_token() -> None:
    assert "token" not in WorkerSettings.model_fields and "webhook_secret" not in WorkerSettings.model_fields
    assert set(WorkerSettings.model_fields) < set(Settings.model_fields)
    worker = WorkerSettings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "STYLEBOT_WORKER_HEARTBEAT_S": "0.5"})
    assert worker.heartbeat_s == 0.5 and TOKEN not in repr(worker) and TOKEN not in str(worker.model_dump())
    with pytest.raises(ConfigError, match=r"STYLEBOT_WORKER_HEARTBEAT_S must be seconds from 0\.2 to 60"):
        WorkerSettings.from_env({"STYLEBOT_WORKER_HEARTBEAT_S": "fast"})
    assert WorkerSettings.from_env({"STYLEBOT_LOG_LEVEL": "warn"}).log_level == "WARNING"  # the bot's own rule


def test_settings_are_immutable() -> None:
    read = settings()
    with pytest.raises(ValidationError):
        read.jobs_per_user = 5  # type: ignore[misc]


def test_the_token_stays_out_of_reprs_and_validation_errors() -> None:
    read = settings(STYLEBOT_WEBHOOK_URL="https://h/tg", STYLEBOT_WEBHOOK_SECRET="hook-secret")
    assert TOKEN not in repr(read) and TOKEN not in str(read) and "hook-secret" not in repr(read)
    with pytest.raises(ValidationError) as caught:
        Settings(token=TOKEN, jobs_per_user=[1])  # type: ignore[arg-type]
    assert TOKEN not in str(caught.value)


@pytest.mark.slow  # runs a stand-in nvidia-smi where workers start
def test_parsing_spawns_no_process_and_counts_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smi = tmp_path / "nvidia-smi"  # a GPU tool on the PATH that a probe would find and run
    smi.write_text("#!/bin/sh\necho 'GPU 0: Fake'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spawned: list[object] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> object:
        spawned.append(args)
        return real_popen(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", popen)
    read = settings()
    assert read.workers is None and spawned == []  # one per GPU: counted where the local workers start
    assert settings(STYLEBOT_WORKERS="3").workers == 3
    assert local_hardware(read) == (settings(STYLEBOT_WORKERS="1"), 1) and len(spawned) == 1  # the probe, there


def test_local_workers_are_one_per_gpu_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert local_hardware(settings()) == (settings(STYLEBOT_WORKERS="2"), 2)
    assert local_hardware(settings(STYLEBOT_WORKERS="1"))[0].workers == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_hardware(settings())[0].workers == 1


def test_dot_env_example_documents_every_variable() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert set(variables()) - documented == set()
