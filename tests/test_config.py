"""Settings.from_env validates everything before anything connects; worker_env quiets TensorFlow."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings

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
