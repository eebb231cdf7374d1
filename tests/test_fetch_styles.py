"""Tests of `stylebot fetch-styles` against a local HTTP server on 127.0.0.1 and local directories (no internet)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.presets import fetch as fetch_styles
from bot.presets.catalogue import CATALOGUE, CatalogueEntry, catalogue_entry
from bot.presets.fetch import (
    USER_AGENT,
    DownloadError,
    FetchReport,
    default_styles_dir,
    download,
    fetch_catalogue,
    import_from_dir,
    main,
    rewrite_url,
)
from bot.presets.library import NAME_PATTERN, PresetLibrary

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_STYLES = PROJECT_ROOT.parent / "shared" / "images" / "styles"
ORIGIN = "https://upload.example.org"


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """An encoded solid-colour JPEG."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass
class Route:
    """What the stub server answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "image/jpeg"
    delay: float = 0.0  # seconds before the status line
    send_length: bool = True
    trickle: float = 0.0  # when set: one byte per this many seconds


class StubServer(ThreadingHTTPServer):
    """A local HTTP server with canned routes that records each request's path and User-Agent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()  # set at teardown so slow handlers stop at once

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:<port>."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def paths(self) -> list[str]:
        """The paths requested so far."""
        return [path for path, _ in self.requests]


class StubHandler(BaseHTTPRequestHandler):
    """Serves StubServer.routes; unknown paths get 404."""

    server: StubServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        """Answer from the route table."""
        self.server.requests.append((self.path, self.headers.get("User-Agent", "")))
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.delay:
            self.server.release.wait(route.delay)
        try:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            if not route.trickle:
                self.wfile.write(route.body)
                return
            for index in range(len(route.body)):
                if self.server.release.wait(route.trickle):
                    return
                self.wfile.write(route.body[index : index + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as the timeout tests intend

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def server() -> Iterator[StubServer]:
    """A running stub server on 127.0.0.1 and a free port."""
    stub = StubServer()
    thread = threading.Thread(target=stub.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        stub.shutdown()
        stub.server_close()
        thread.join(timeout=5)


def entry(name: str, path: str) -> CatalogueEntry:
    """A catalogue entry whose URL lives on the fake origin."""
    return CatalogueEntry(name, f"Title of {name}", f"Artist of {name}", "1900", ORIGIN + path)


ENTRIES = (
    entry("good_one", "/art/good_one.jpg"),
    entry("missing", "/art/missing.jpg"),
    entry("slow", "/art/slow.jpg"),
    entry("html_page", "/art/page.jpg"),
    entry("Bad-Name", "/art/good_one.jpg"),
    entry("good_two", "/art/sub%2Cdir/good_two.jpg"),
)


@pytest.fixture
def gallery(server: StubServer) -> StubServer:
    """The stub server serving ENTRIES: two good JPEGs, a 404, a slow answer and an HTML page."""
    server.routes["/art/good_one.jpg"] = Route(jpeg_bytes((1600, 1200)))
    server.routes["/art/slow.jpg"] = Route(jpeg_bytes(), delay=30.0)
    server.routes["/art/page.jpg"] = Route(b"<html><body>Moved</body></html>", content_type="text/html")
    server.routes["/art/sub%2Cdir/good_two.jpg"] = Route(jpeg_bytes((300, 200), (10, 200, 10)))
    return server


# --- downloading from the catalogue -------------------------------------------------------------------------


def test_fetch_keeps_going_past_failures(gallery: StubServer, tmp_path: Path) -> None:
    styles = tmp_path / "styles"
    started = time.monotonic()
    report = fetch_catalogue(styles, ENTRIES, timeout=1, url_base=gallery.base_url)
    assert time.monotonic() - started < 10  # the slow answer cost one 1 s timeout, not its 30 s
    assert report.fetched == ["good_one", "good_two"]
    assert report.skipped == []
    assert list(report.failed) == ["missing", "slow", "html_page", "Bad-Name"]
    assert report.failed["missing"] == "HTTP 404 Not Found"
    assert report.failed["slow"] == "timed out"
    assert report.failed["html_page"].startswith("not a usable image: This file is not a supported picture")
    assert "cannot be a style name" in report.failed["Bad-Name"]
    assert report.summary() == "2 fetched, 0 already present, 4 failed (missing, slow, html_page, Bad-Name)"

    library = PresetLibrary(styles)
    assert library.names() == ["good_one", "good_two"]
    assert library.get("good_one").label == "Title of good_one — Artist of good_one, 1900"
    assert Image.open(library.get("good_one").path).size == (1024, 768)
    assert Image.open(library.get("good_two").path).size == (300, 200)


def test_fetch_keeps_the_path_and_sends_a_user_agent(gallery: StubServer, tmp_path: Path) -> None:
    fetch_catalogue(tmp_path, [ENTRIES[0], ENTRIES[-1]], timeout=1, url_base=gallery.base_url + "/")
    assert gallery.paths() == ["/art/good_one.jpg", "/art/sub%2Cdir/good_two.jpg"]
    assert {agent for _, agent in gallery.requests} == {USER_AGENT}
    assert USER_AGENT.startswith("stylebot/0.1 (")


def test_second_run_skips_present_presets_unless_overwriting(gallery: StubServer, tmp_path: Path) -> None:
    good = [ENTRIES[0], ENTRIES[1], ENTRIES[-1]]
    fetch_catalogue(tmp_path, good, timeout=1, url_base=gallery.base_url)
    gallery.requests.clear()
    report = fetch_catalogue(tmp_path, good, timeout=1, url_base=gallery.base_url)
    assert (report.fetched, report.skipped, list(report.failed)) == ([], ["good_one", "good_two"], ["missing"])
    assert gallery.paths() == ["/art/missing.jpg"]
    report = fetch_catalogue(tmp_path, good, timeout=1, url_base=gallery.base_url, overwrite=True)
    assert report.fetched == ["good_one", "good_two"]


def test_a_preset_in_another_format_counts_as_present(gallery: StubServer, tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "good_one.png")
    report = fetch_catalogue(tmp_path, ENTRIES[:1], timeout=1, url_base=gallery.base_url)
    assert report.skipped == ["good_one"]
    assert gallery.requests == []


def test_url_base_with_a_path_prefix(gallery: StubServer, tmp_path: Path) -> None:
    gallery.routes["/mirror/art/good_one.jpg"] = gallery.routes["/art/good_one.jpg"]
    report = fetch_catalogue(tmp_path, ENTRIES[:1], timeout=1, url_base=gallery.base_url + "/mirror/")
    assert report.fetched == ["good_one"]
    assert gallery.paths() == ["/mirror/art/good_one.jpg"]


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("https://upload.wikimedia.org/a/b%2Cc.jpg", "http://127.0.0.1:8000", "http://127.0.0.1:8000/a/b%2Cc.jpg"),
        ("https://upload.wikimedia.org/a/b.jpg?x=1", "http://mirror/", "http://mirror/a/b.jpg?x=1"),
        ("https://upload.wikimedia.org/a/b.jpg", "https://mirror/pre/fix/", "https://mirror/pre/fix/a/b.jpg"),
    ],
)
def test_rewrite_url(url: str, base: str, expected: str) -> None:
    assert rewrite_url(url, base) == expected


@pytest.mark.parametrize("base", ["127.0.0.1:8000", "ftp://mirror", "file:///tmp", "http://"])
def test_bad_url_base_is_refused(tmp_path: Path, base: str) -> None:
    with pytest.raises(ValueError, match="URL base must look like"):
        fetch_catalogue(tmp_path, ENTRIES, url_base=base)


@pytest.mark.parametrize("send_length", [True, False])
def test_downloads_over_the_size_limit_fail(server: StubServer, tmp_path: Path, send_length: bool) -> None:
    server.routes["/art/good_one.jpg"] = Route(jpeg_bytes((400, 300)), send_length=send_length)
    report = fetch_catalogue(tmp_path, ENTRIES[:1], timeout=1, url_base=server.base_url, max_bytes=1000)
    assert report.failed["good_one"].startswith("larger than ")
    assert not (tmp_path / "good_one.jpg").exists()


def test_a_trickling_server_hits_the_total_deadline(
    server: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each byte comes well within the 1 s socket timeout, yet the whole body would take ~15 s.
    monkeypatch.setattr(fetch_styles, "TOTAL_TIMEOUT_FACTOR", 1)
    server.routes["/art/good_one.jpg"] = Route(jpeg_bytes(), trickle=0.02)
    started = time.monotonic()
    report = fetch_catalogue(tmp_path, ENTRIES[:1], timeout=1, url_base=server.base_url)
    assert report.failed == {"good_one": "took longer than 1 s"}
    assert time.monotonic() - started < 5


def test_a_refused_connection_is_reported(tmp_path: Path) -> None:
    with StubServer() as closed:  # bound, then closed: nothing listens on its port any more
        base = closed.base_url
    report = fetch_catalogue(tmp_path, ENTRIES[:1], timeout=1, url_base=base)
    assert report.failed["good_one"].startswith("cannot connect:")


class FakeResponse(io.BytesIO):
    """A response object without read1 or headers, as a custom opener might return."""

    def __init__(self, body: bytes, status: int) -> None:
        super().__init__(body)
        self.status = status


def test_download_with_a_custom_opener() -> None:
    seen: list[urllib.request.Request] = []

    def opener(request: urllib.request.Request, *, timeout: float) -> FakeResponse:
        seen.append(request)
        return FakeResponse(b"x" * 200_000, 200)

    assert download("https://example.org/a.jpg", opener=opener) == b"x" * 200_000
    assert seen[0].get_header("User-agent") == USER_AGENT
    with pytest.raises(DownloadError, match="HTTP 500"):
        download("https://example.org/a.jpg", opener=lambda request, *, timeout: FakeResponse(b"", 500))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.jpg", "data:,hello"])
def test_download_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(DownloadError, match="only http and https"):
        download(url)


def test_an_opener_bug_is_reported_and_does_not_stop_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def opener(request: urllib.request.Request, *, timeout: float) -> FakeResponse:
        if "good_one" in request.full_url:
            raise RuntimeError("boom")
        return FakeResponse(jpeg_bytes(), 200)

    report = fetch_catalogue(tmp_path, [ENTRIES[0], ENTRIES[-1]], opener=opener)
    assert report.failed == {"good_one": "boom"}
    assert report.fetched == ["good_two"]
    assert any(record.exc_info for record in caplog.records)  # unexpected errors keep their traceback


# --- the command line ---------------------------------------------------------------------------------------


def test_main_downloads_the_real_catalogue_paths(server: StubServer, tmp_path: Path) -> None:
    for name in ("great_wave", "starry_night"):
        found = catalogue_entry(name)
        assert found is not None
        server.routes[urllib.parse.urlsplit(found.url).path] = Route(jpeg_bytes((1200, 800)))
    styles = tmp_path / "styles"
    assert main(["--styles-dir", str(styles), "--url-base", server.base_url, "--timeout", "2"]) == 0
    library = PresetLibrary(styles)
    assert library.names() == ["great_wave", "starry_night"]
    assert library.get("great_wave").label == "The Great Wave off Kanagawa — Katsushika Hokusai, c. 1831"
    assert len(server.requests) == len(CATALOGUE)
    assert "/wikipedia/commons/b/b4/Vassily_Kandinsky%2C_1913_-_Composition_7.jpg" in server.paths()


def test_main_returns_1_when_no_preset_is_available(server: StubServer, tmp_path: Path) -> None:
    assert main(["--styles-dir", str(tmp_path / "styles"), "--url-base", server.base_url]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--styles-dir", str(tmp_path / "styles"), "--from-dir", str(empty)]) == 1


def test_main_returns_0_when_presets_exist_even_if_all_downloads_fail(server: StubServer, tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "mine.jpg")
    assert main(["--styles-dir", str(tmp_path), "--url-base", server.base_url, "--timeout", "1"]) == 0


def test_main_copies_from_a_local_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "great_wave.jpg").write_bytes(jpeg_bytes((2048, 1024)))
    Image.new("RGB", (30, 40)).save(source / "the_scream.png")
    (source / "starry_night.jpg").write_bytes(b"<html>not a picture</html>")
    (source / "unrelated.jpg").write_bytes(jpeg_bytes())
    styles = tmp_path / "styles"
    with caplog.at_level(logging.INFO):
        assert main(["--styles-dir", str(styles), "--from-dir", str(source)]) == 0
    library = PresetLibrary(styles)
    assert library.names() == ["great_wave", "the_scream"]
    assert Image.open(library.get("great_wave").path).size == (1024, 512)
    assert library.get("the_scream").label == "The Scream — Edvard Munch, 1893"
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "starry_night (not a usable image" in messages
    assert f"nantes (no nantes.jpg in {source})" in messages
    assert "2 fetched, 0 already present, 3 failed (starry_night, composition_vii, nantes)" in messages


def test_import_from_dir_report(tmp_path: Path) -> None:
    (tmp_path / "good_one.jpg").write_bytes(jpeg_bytes())
    report = import_from_dir(tmp_path / "styles", tmp_path, ENTRIES[:2])
    assert report == FetchReport(fetched=["good_one"], failed={"missing": f"no missing.jpg in {tmp_path}"})
    again = import_from_dir(tmp_path / "styles", tmp_path, ENTRIES[:1])
    assert again.skipped == ["good_one"]


def test_main_uses_the_environment_for_the_styles_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "great_wave.jpg").write_bytes(jpeg_bytes())
    monkeypatch.setenv("STYLEBOT_STYLES_DIR", str(tmp_path / "from_env"))
    assert main(["--from-dir", str(tmp_path)]) == 0
    assert PresetLibrary(tmp_path / "from_env").names() == ["great_wave"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"STYLEBOT_STYLES_DIR": "/srv/styles", "STYLEBOT_DATA_DIR": "/srv/data"}, Path("/srv/styles")),
        ({"STYLEBOT_DATA_DIR": "/srv/data"}, Path("/srv/data/styles")),
        ({"STYLEBOT_STYLES_DIR": "", "STYLEBOT_DATA_DIR": ""}, Path("data/styles")),
        ({}, Path("data/styles")),
        ({"STYLEBOT_DATA_DIR": "~/bot"}, Path("~/bot").expanduser() / "styles"),
    ],
)
def test_default_styles_dir(environ: dict[str, str], expected: Path) -> None:
    assert default_styles_dir(environ) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--from-dir", "/no/such/dir"],
        ["--from-dir", ".", "--url-base", "http://127.0.0.1:1"],
        ["--url-base", "not-a-url"],
        ["--timeout", "0"],
        ["--bogus"],
    ],
)
def test_main_usage_errors_exit_2(tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--styles-dir", str(tmp_path), *argv])
    assert caught.value.code == 2
    assert "usage: stylebot fetch-styles" in capsys.readouterr().err


@pytest.mark.skipif(
    not SHARED_STYLES.is_dir(),
    reason=f"{SHARED_STYLES} is absent: the read-only ../shared folder is not mounted on this machine",
)
def test_main_imports_the_shared_paintings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    styles = tmp_path / "styles"
    with caplog.at_level(logging.INFO):
        assert main(["--styles-dir", str(styles), "--from-dir", str(SHARED_STYLES)]) == 0
    library = PresetLibrary(styles)
    assert library.names() == ["composition_vii", "great_wave", "starry_night", "the_scream"]
    assert library.get("starry_night").label == "The Starry Night — Vincent van Gogh, 1889"
    for preset in library.all():
        assert max(Image.open(preset.path).size) <= 1024
    assert "could not get 1 of 5 paintings (nantes): no nantes.jpg" in caplog.text  # the one not in shared


# --- the catalogue and the import boundary ------------------------------------------------------------------


def test_catalogue_matches_the_documented_presets() -> None:
    assert [e.name for e in CATALOGUE] == ["great_wave", "starry_night", "composition_vii", "the_scream", "nantes"]
    for item in CATALOGUE:
        assert NAME_PATTERN.fullmatch(item.name)
        assert item.url.startswith("https://upload.wikimedia.org/wikipedia/commons/")
        assert item.title and item.artist and item.year
    assert catalogue_entry("nantes") == CatalogueEntry(
        "nantes",
        "Nantes from the Ile Feydeau",
        "J. M. W. Turner",
        "1829",
        "https://upload.wikimedia.org/wikipedia/commons/b/b7/JMW_Turner_-_Nantes_from_the_Ile_Feydeau.jpg",
    )
    assert catalogue_entry("mona_lisa") is None


@pytest.mark.slow  # starts a process
def test_the_bot_modules_do_not_import_tensorflow() -> None:
    code = (
        "import sys, bot.presets.catalogue, bot.presets.library, bot.presets.fetch\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') or m == 'engine.transfer']\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
