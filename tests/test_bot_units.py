"""Small pure pieces of the bot: texts, remix arithmetic, recipes, settings, and what the bot imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from bot.core.models import JobParams
from bot.core.recipes import TIERS, style_params
from bot.service import UserFacingError, remixed
from bot.telegram import texts


def test_durations_and_etas_read_naturally() -> None:
    assert texts.duration(42) == "42 s"
    assert texts.duration(185) == "3 min 5 s"
    assert texts.duration(120) == "2 min"
    assert texts.eta(None) == ""
    assert texts.eta(0.4) == " – almost done"
    assert texts.eta(75) == " – about 1 min 15 s left"


def test_remix_moves_one_setting_and_always_the_seed() -> None:
    base = JobParams(quality="standard", strength="medium", keep_colors=False, seed=0)
    assert remixed(base, "stronger", 5).strength == "high"
    assert remixed(remixed(base, "stronger", 5), "stronger", 6).strength == "high"  # capped
    assert remixed(base, "weaker", 5).strength == "low"
    assert remixed(base, "colors", 5).keep_colors is True
    assert remixed(base, "hd", 5).quality == "hd"
    again = remixed(base, "again", 9)
    assert (again.quality, again.strength, again.keep_colors, again.seed) == ("standard", "medium", False, 9)
    with pytest.raises(UserFacingError):
        remixed(base, "explode", 1)


def test_tiers_map_to_engine_params_and_overrides_win() -> None:
    job = JobParams(quality="hd", strength="high", keep_colors=True, seed=3)
    params = style_params(job, (0.7, 0.3))
    assert (params.max_side, params.steps, params.levels) == (TIERS["hd"].max_side, TIERS["hd"].steps, 2)
    assert params.strength == 0.75 and params.keep_colors and params.style_blend == (0.7, 0.3)
    assert params.init_noise > 0  # a seeded variation
    small = style_params(job, (1.0,), max_side=48, steps=4)
    assert (small.max_side, small.steps, small.levels) == (48, 4, 1)


def test_settings_come_from_the_environment_and_hide_the_token() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": "123:SECRET-token-of-35-characters-xxxxx",
        "STYLEBOT_DATA_DIR": "/tmp/x",
        "STYLEBOT_ADMIN_IDS": "1, 2",
    }
    settings = Settings.from_env(env)
    assert settings.admin_ids == frozenset({1, 2})
    assert str(settings.styles_dir) == "/tmp/x/styles" and settings.weights == "imagenet"
    assert "SECRET" not in repr(settings)
    assert settings.redact(f"url/bot{settings.token}/getMe") == "url/bot<token>/getMe"
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match="STYLEBOT_JOBS_PER_USER must be a whole number from 1 to 100"):
        Settings.from_env({**env, "STYLEBOT_JOBS_PER_USER": "0"})


@pytest.mark.slow  # starts a process
def test_the_bot_process_never_imports_tensorflow() -> None:
    code = "import sys, bot.telegram.app, bot.__main__; assert 'tensorflow' not in sys.modules, 'TF imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.slow  # starts a process
def test_missing_token_is_a_one_line_error(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("stylebot: error: TELEGRAM_BOT_TOKEN is not set")
    assert len(done.stderr.strip().splitlines()) == 1


def test_making_of_frames_are_dense_early_and_end_on_the_last_step() -> None:
    from bot.jobs.local_worker import frame_steps

    steps = sorted(frame_steps(150))
    assert steps[:5] == [1, 2, 3, 4, 5] and steps[-1] == 150
    assert 12 <= len(steps) <= 25  # a short animation whatever the budget
    assert sorted(frame_steps(3)) == [1, 2, 3]


def test_a_dot_env_file_fills_in_unset_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        '# comment\nTELEGRAM_BOT_TOKEN="1:FROMFILE-token-of-35-characters-xxx"\nSTYLEBOT_STEPS=7\nSTYLEBOT_MAX_SIDE=\n'
    )
    monkeypatch.setenv("STYLEBOT_STEPS", "9")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    settings = Settings.from_env(env_file=env_file)  # pydantic-settings reads the file and the environment
    assert settings.token.startswith("1:FROMFILE")  # from the file
    assert settings.steps == 9  # the real environment wins
    assert settings.max_side is None
