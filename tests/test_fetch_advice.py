"""fetch-styles failures end with one summary and what to do, at WARNING; per-painting details are DEBUG."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from bot.presets.catalogue import CATALOGUE
from bot.presets.fetch import fetch_catalogue, import_from_dir

ROOT = Path(__file__).resolve().parent.parent


def closed_url() -> str:
    """An http URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def jpeg() -> bytes:
    """A small JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages logged at WARNING or above."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_network_down_gives_one_summary_and_the_advice(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bot.presets.fetch"):
        report = fetch_catalogue(tmp_path, timeout=1, url_base=closed_url())
    assert len(report.failed) == len(CATALOGUE)
    summary, advice = warnings_of(caplog)
    names = ", ".join(entry.name for entry in CATALOGUE)
    assert summary.startswith(f"could not get 5 of 5 paintings ({names}): cannot connect:")
    assert "check the network" in advice
    assert "stylebot fetch-styles --from-dir DIR" in advice
    assert "STYLEBOT_HTTP_USER_AGENT" in advice and "you@example.org" in advice
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(info) == 1 and info[0].startswith("downloading up to 5 paintings from http://127.0.0.1:")


def test_details_per_painting_stay_at_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def opener(request: urllib.request.Request, *, timeout: float) -> io.BytesIO:
        if "Kanagawa" in request.full_url:
            return io.BytesIO(jpeg())
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)  # type: ignore[arg-type]

    with caplog.at_level(logging.DEBUG, logger="bot.presets.fetch"):
        report = fetch_catalogue(tmp_path, opener=opener)
    assert report.fetched == ["great_wave"]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert "could not get the_scream: HTTP 403 Forbidden" in debug
    summary, _advice = warnings_of(caplog)
    assert summary == (
        "could not get 4 of 5 paintings (starry_night, composition_vii, the_scream, nantes): HTTP 403 Forbidden"
    )


def test_different_reasons_are_listed_per_painting(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "great_wave.jpg").write_bytes(jpeg())
    (source / "the_scream.jpg").write_bytes(b"<html>")
    with caplog.at_level(logging.INFO, logger="bot.presets.fetch"):
        report = import_from_dir(tmp_path / "styles", source)
    assert report.fetched == ["great_wave"]
    summary, advice = warnings_of(caplog)
    assert summary.startswith("could not get 4 of 5 paintings: starry_night (no starry_night.jpg in ")
    assert "the_scream (not a usable image" in summary
    assert advice == (
        f"to add them: put starry_night.jpg, composition_vii.jpg, the_scream.jpg, nantes.jpg into {source} "
        f"(JPEG, PNG or WebP) and run `stylebot fetch-styles --from-dir {source}` again"
    )


def test_no_warning_when_everything_is_there(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for entry in CATALOGUE:
        (source / f"{entry.name}.jpg").write_bytes(jpeg())
    with caplog.at_level(logging.DEBUG, logger="bot.presets.fetch"):
        assert len(import_from_dir(tmp_path / "styles", source).fetched) == len(CATALOGUE)
    assert warnings_of(caplog) == []


@pytest.mark.slow  # starts a process
def test_the_cli_ends_with_what_to_do(tmp_path: Path) -> None:
    args = ["fetch-styles", "--styles-dir", str(tmp_path), "--url-base", closed_url(), "--timeout", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1  # nothing is available afterwards
    lines = done.stderr.strip().splitlines()
    warnings = [line for line in lines if line.startswith("WARNING:")]
    assert len(warnings) == 2, done.stderr
    assert "--from-dir DIR" in warnings[1] and "STYLEBOT_HTTP_USER_AGENT" in warnings[1]
    assert lines[-1].startswith("ERROR: no presets are available in")
    assert "Traceback" not in done.stderr
    assert len(lines) <= 5, done.stderr  # downloading…, 2 warnings, the tally, the error
