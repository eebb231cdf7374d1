"""Running it in production: metrics, health, webhook mode, JSON logs and /stats, on the real app in-process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sqlite3
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import WorkerSettings
from bot.core.errors import BrokerUnavailableError
from bot.ops import health, healthcheck
from bot.ops.chart import ChartLabels, usage_chart
from bot.ops.report import DAY_S, UsageReport, WorkersNow
from bot.ops.worker_metrics import WorkerMetrics, serve_worker_metrics
from bot.store import db
from bot.store.storage import UsageStats
from bot.telegram import i18n, texts
from bot.telegram.app import prepare_handler
from testing.bot_harness import free_port, photo_bytes
from testing.disks import SmallDisk
from testing.fake_telegram import FakeTelegram
from testing.inprocess import ScriptedExecutor, results, running_bot, said, settings_for, until
from testing.inprocess import texts as bot_texts

ROOT = Path(__file__).resolve().parent.parent


async def get(app: Any, path: str) -> httpx.Response:
    """GET an ops endpoint of the running bot."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{app.bot_data.running.ops.port}{path}")


async def scrape(app: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by name and labels."""
    response = await get(app, "/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    wanted = set(labels.items())
    return sum(value for (n, ls), value in samples.items() if n == name and wanted <= ls)


async def test_metrics_move_with_a_job(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(), metrics_port=0) as app:
        before = await scrape(app)
        assert total(before, "stylebot_jobs_total") == 0
        assert total(before, "stylebot_workers_up") == 1
        chat = fake.private_chat(501, "Mo")
        fake.fail_next("sendMessage", error_code=500)  # the first status message meets a server error
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, chat), "the result")
        await until(fake, lambda: fake.calls_of("sendMessage"), "a status message")
        samples = await asyncio.wait_for(_settled(app), 10)
        for state in ("queued", "running", "delivering", "done"):
            assert total(samples, "stylebot_jobs_total", state=state) == 1, state
        assert total(samples, "stylebot_jobs_total", state="failed") == 0
        assert total(samples, "stylebot_job_wait_seconds_count") == 1
        assert total(samples, "stylebot_job_run_seconds_count") == 1
        assert total(samples, "stylebot_queue_depth") == 0
        assert total(samples, "stylebot_workers_busy") == 0
        assert total(samples, "stylebot_telegram_requests_total", method="sendMessage", outcome="network") == 1
        assert total(samples, "stylebot_telegram_requests_total", method="sendPhoto", outcome="ok") >= 1
        assert total(samples, "stylebot_telegram_requests_total", outcome="ok") >= 3
        assert total(samples, "process_resident_memory_bytes") > 0


async def test_local_workers_memory_is_reported_per_worker(fake: FakeTelegram, tmp_path: Path) -> None:
    # Both "workers" report this test's process as theirs: its memory is what the bot must read for each.
    async with running_bot(fake, tmp_path, ScriptedExecutor(workers=2, pid=os.getpid()), metrics_port=0) as app:
        samples = await scrape(app)
        for worker in ("0", "1"):
            assert total(samples, "stylebot_worker_resident_memory_bytes", worker=worker) > 10e6
    # A worker whose process is gone is left out, not reported as 0 or an error.
    async with running_bot(fake, tmp_path / "gone", ScriptedExecutor(pid=2**22 + 1), metrics_port=0) as app:
        assert total(await scrape(app), "stylebot_worker_resident_memory_bytes") == 0
        assert total(await scrape(app), "stylebot_workers_up") == 1


async def test_every_dashboard_query_names_a_metric_the_bot_or_a_worker_serves(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "stylebot.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    used = {name for expr in exprs for name in re.findall(r"\b(?:stylebot|process)_[a-z_]+\b", expr)}
    assert len(used) >= 10, exprs
    async with running_bot(fake, tmp_path, ScriptedExecutor(pid=os.getpid()), metrics_port=0) as app:
        chat = fake.private_chat(502, "Di")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")  # every labelled series gets a sample
        await until(fake, lambda: results(fake, chat), "the result")
        served = {name for name, _ in await asyncio.wait_for(_settled(app), 10)}
    worker = WorkerMetrics()  # what a Celery worker serves on its own port, after a task
    worker.finished("gatys", "done", 1.0)
    served |= {
        s.name for f in text_string_to_metric_families(generate_latest(worker.registry).decode()) for s in f.samples
    }
    assert used <= served, used - served


async def _settled(app: Any) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape until the job is counted done (the result message lands just before the state changes)."""
    while True:
        samples = await scrape(app)
        if total(samples, "stylebot_jobs_total", state="done") >= 1:
            return samples
        await asyncio.sleep(0.05)


async def test_a_queued_job_shows_in_the_queue_depth(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, metrics_port=0) as app:
        alice, bob = fake.private_chat(511, "Al"), fake.private_chat(512, "Bo")
        fake.send_photo(alice, None, photo_bytes(seed=1), caption="dots")
        await said(fake, alice, "Painting")
        fake.send_photo(bob, None, photo_bytes(seed=2), caption="dots")
        await said(fake, bob, "Queued")
        samples = await scrape(app)
        assert total(samples, "stylebot_queue_depth") == 1
        assert total(samples, "stylebot_workers_busy") == 1
        assert total(samples, "stylebot_jobs_active", state="running") == 1
        executor.release()
        await until(fake, lambda: results(fake, bob), "bob's result")


async def test_readyz_fails_when_the_workers_go_down(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor()  # without the instant network: with it, the bot is ready but degraded
    async with running_bot(fake, tmp_path, executor, metrics_port=0, instant_preview=False) as app:
        ready = await get(app, "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
        executor.go_down("weights missing")
        for _ in range(100):  # the WorkerFatal event is handled by the dispatcher's event task
            response = await get(app, "/readyz")
            if response.status_code == 503:
                break
            await asyncio.sleep(0.05)
        assert response.status_code == 503
        assert response.json()["status"] == "fail"
        assert (await get(app, "/healthz")).status_code == 200  # alive, just not able to paint


async def test_readyz_waits_for_a_worker(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, ScriptedExecutor(workers=0), metrics_port=0) as app:
        response = await get(app, "/readyz")
        assert response.status_code == 503
        assert "yet" in response.json()["reason"]


async def test_healthz_fails_while_the_database_is_locked_or_closed(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "DB_PROBE_TIMEOUT_S", 0.3)
    async with running_bot(fake, tmp_path, metrics_port=0) as app:
        live = await get(app, "/healthz")
        assert live.status_code == 200
        assert live.json() == {"status": "ok", "database": "writable", "disk": "writable"}
        other = sqlite3.connect(tmp_path / "stylebot.sqlite3", timeout=30, check_same_thread=False)
        await asyncio.to_thread(other.execute, "BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            locked = await get(app, "/healthz")
        finally:
            other.rollback()
            other.close()
        assert locked.status_code == 503
        assert locked.json()["status"] == "fail"
        assert (await get(app, "/healthz")).status_code == 200
        await app.bot_data.running.storage.close()
        closed = await get(app, "/healthz")
        assert closed.status_code == 503
        assert "database" in closed.json()


@pytest.mark.slow  # runs mount and umount
async def test_healthz_fails_on_a_full_disk_and_recovers_when_space_is_freed(
    fake: FakeTelegram, full_disk: SmallDisk
) -> None:
    # A lock and a rollback need no space: the full disk of issue 17 answered 200 "writable".
    async with running_bot(fake, full_disk.path, metrics_port=0) as app:
        assert (await get(app, "/healthz")).status_code == 200
        full_disk.fill()
        full = await get(app, "/healthz")
        assert full.status_code == 503, full.text
        assert full.json()["status"] == "fail"
        assert "No space left on device" in full.json()["disk"]
        full_disk.free()
        again = await get(app, "/healthz")
        assert again.status_code == 200, again.text


async def test_the_health_probe_commits_as_durably_as_the_bot(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels: list[int] = []

    def connect_and_read_back(path: Path, timeout_s: float) -> sqlite3.Connection:
        conn = db.connect_short(path, timeout_s)
        levels.append(conn.execute("PRAGMA synchronous").fetchone()[0])
        return conn

    monkeypatch.setattr("bot.store.storage.connect_short", connect_and_read_back)
    async with running_bot(fake, tmp_path, metrics_port=0) as app:
        assert (await get(app, "/healthz")).status_code == 200
    assert levels == [2]  # FULL: the probe's heartbeat commit is on disk when it returns
    with sqlite3.connect(tmp_path / "stylebot.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM heartbeat").fetchone()[0] == 1  # a real write, not a lock


async def test_readyz_fails_while_new_jobs_are_refused(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor()
    async with running_bot(fake, tmp_path, executor, metrics_port=0) as app:
        assert (await get(app, "/readyz")).status_code == 200
        executor.refusing = BrokerUnavailableError()  # workers are up, but no job can reach them
        refused = await get(app, "/readyz")
        assert refused.status_code == 503
        assert "broker" in refused.json()["reason"]
        executor.refusing = None
        assert (await get(app, "/readyz")).status_code == 200


async def test_a_job_running_far_beyond_its_tier_counts_as_stuck(fake: FakeTelegram, tmp_path: Path) -> None:
    executor = ScriptedExecutor(hold=True)
    async with running_bot(fake, tmp_path, executor, metrics_port=0) as app:
        chat = fake.private_chat(541, "St")
        fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
        await said(fake, chat, "Painting")
        fresh = await scrape(app)
        assert total(fresh, "stylebot_jobs_stuck", state="running") == 0
        assert total(fresh, "stylebot_jobs_stuck", state="delivering") == 0
        # Its worker went away an hour ago and nothing noticed (issue 17): the job still says running.
        with sqlite3.connect(tmp_path / "stylebot.sqlite3") as conn:
            conn.execute("UPDATE jobs SET started_at = started_at - 3600 WHERE status = 'running'")
        assert total(await scrape(app), "stylebot_jobs_stuck", state="running") == 1
        executor.release()
        await until(fake, lambda: results(fake, chat), "the result")
        assert total(await scrape(app), "stylebot_jobs_stuck") == 0


async def test_the_container_healthcheck_reads_healthz(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(fake, tmp_path, metrics_port=0) as app:
        monkeypatch.setenv("STYLEBOT_METRICS_PORT", str(app.bot_data.running.ops.port))
        assert await asyncio.to_thread(healthcheck.main) == 0
        await app.bot_data.running.storage.close()
        assert await asyncio.to_thread(healthcheck.main) == 1  # 503
    assert await asyncio.to_thread(healthcheck.main) == 1  # nobody listens
    monkeypatch.setenv("STYLEBOT_METRICS_PORT", "")
    assert await asyncio.to_thread(healthcheck.main) == 0  # no endpoint: nothing to check


def test_the_container_healthcheck_passes_on_a_cluster_workers_metrics_port(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    config = WorkerSettings(broker_url="redis://unused", weights="random", metrics_port=port)
    observer = serve_worker_metrics(config)
    observer.model_loaded(3.5)
    monkeypatch.setenv("STYLEBOT_METRICS_PORT", str(port))
    assert healthcheck.main() == 0
    body = httpx.get(f"http://127.0.0.1:{port}/metrics", trust_env=False).text
    assert "stylebot_worker_model_load_seconds 3.5" in body


async def test_no_ops_server_unless_a_port_is_set(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path) as app:
        assert app.bot_data.running.ops is None


async def test_webhook_takes_updates_with_the_secret_only(fake: FakeTelegram, tmp_path: Path) -> None:
    port, secret = free_port(), "s3cret-token_1"
    overrides = {
        "webhook_url": "https://bot.example.org/telegram/hook",
        "webhook_listen": "127.0.0.1",
        "webhook_port": port,
        "webhook_secret": secret,
    }
    async with running_bot(fake, tmp_path, **overrides):
        assert fake.webhook == {"url": "https://bot.example.org/telegram/hook", "secret_token": secret}
        assert not fake.calls_of("getUpdates")
        chat = fake.private_chat(521, "We")
        fake.send_text(chat, None, "/help")
        fake.send_text(chat, None, "/start")
        refused, update = fake.take_updates()
        url = f"http://127.0.0.1:{port}/telegram/hook"
        assert await asyncio.to_thread(fake.post_update_to, url, refused) == 403
        assert await asyncio.to_thread(fake.post_update_to, url, refused, "wrong") == 403
        assert await asyncio.to_thread(fake.post_update_to, url, update, secret) == 200
        await said(fake, chat, "Send me a photo")
        # A chat's updates are handled in order: had the refused /help been handled, its reply came first.
        assert len(fake.bot_messages(chat.id)) == 1


async def test_stats_for_an_admin_and_a_refusal_for_others(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, admin_ids=frozenset({531})):
        admin, other = fake.private_chat(531, "Ad"), fake.private_chat(532, "Ot")
        fake.send_photo(other, None, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, other), "the result")
        fake.send_text(other, None, "/stats")
        await said(fake, other, "only for the bot's operators")
        fake.send_text(admin, None, "/stats")
        report = await said(fake, admin, "Last 24 hours")
        assert "Users: 1 · 1" in report
        assert "Jobs: 1 · 1" in report
        assert "done: 1 · 1" in report
        assert "Workers: 1 of 1 up, 0 busy" in report
        chart = await until(
            fake, lambda: next((m for m in fake.bot_messages(admin.id) if m.get("photo")), None), "the chart"
        )
        assert fake.message_file_bytes(chart).startswith(b"\x89PNG")
        assert "Jobs per hour" in chart["caption"]
        assert not [m for m in fake.bot_messages(other.id) if "Last 24 hours" in (m.get("text") or "")]


async def test_stats_in_the_admins_language(fake: FakeTelegram, tmp_path: Path) -> None:
    async with running_bot(fake, tmp_path, admin_ids=frozenset({533, 534})):
        ivan_chat, anna_chat, other_chat = (fake.private_chat(i, n) for i, n in ((533, "Iv"), (534, "An"), (535, "Ot")))
        ivan, other = fake.user(533, "Iv", language_code="ru"), fake.user(535, "Ot", language_code="ru")
        fake.send_photo(ivan_chat, ivan, photo_bytes(seed=1), caption="dots")
        await until(fake, lambda: results(fake, ivan_chat), "the result")
        fake.send_text(other_chat, other, "/stats")
        await said(fake, other_chat, "Извините, /stats доступна только операторам бота.")

        fake.send_text(ivan_chat, ivan, "/stats")  # Russian from the Telegram app
        report = await said(fake, ivan_chat, "📊 Последние 24 часа · последние 7 дней")
        for line in ("Пользователи: 1 · 1", "Задания: 1 · 1", "  готово: 1 · 1", "  стандарт: 1 · 1"):
            assert line in report.splitlines(), line
        assert "Ожидание, медиана / p90: " in report and "Рисование, медиана / p90: " in report
        assert report.endswith("Рабочие процессы: работают 1 из 1, заняты 0")
        caption = await said(fake, ivan_chat, "Заданий в час и медиана их ожидания за последние 24 часа (UTC).")
        chart = next(m for m in fake.bot_messages(ivan_chat.id) if m.get("caption") == caption)
        assert fake.message_file_bytes(chart).startswith(b"\x89PNG")

        fake.send_text(anna_chat, None, "/language ru")  # an English app, Russian chosen
        await said(fake, anna_chat, "Теперь я отвечаю по-русски.")
        fake.send_text(anna_chat, None, "/stats")
        await said(fake, anna_chat, "Пользователи: 1 · 1")
        await said(fake, anna_chat, "Заданий в час")
        assert not [t for t in bot_texts(fake, ivan_chat) + bot_texts(fake, anna_chat) if "Last 24 hours" in t]


def a_day_of_jobs() -> UsageStats:
    """A busy day: jobs in every hour, some waits, a failure and a quality this version does not know."""
    until_ = 1_767_225_600.0  # on the hour
    hourly = [(until_ - (24 - h) * 3600, h % 5, 2.5 * (h % 4) if h % 3 else None) for h in range(24)]
    jobs = {("done", "standard"): 40, ("failed", "hd"): 2, ("queued", "instant"): 1, ("done", "legacy"): 1}
    return UsageStats(until_ - DAY_S, until_, 7, jobs, [0.4, 3.0, 12.5], [8.0, 95.0], {"CUDA out of memory": 2}, hourly)


def test_the_stats_text_in_english() -> None:
    stats = a_day_of_jobs()
    workers = WorkersNow(configured=2, up={1: 100}, down={2: "exit code 1"}, idle=0, unavailable=False)
    assert texts.usage(UsageReport(stats, stats, workers)).splitlines() == [
        "📊 Last 24 hours · last 7 days",
        "Users: 7 · 7",
        "Jobs: 44 · 44",
        "  done: 41 · 41",
        "  failed: 2 · 2",
        "  queued: 1 · 1",
        "  ⚡ Instant: 1 · 1",
        "  standard: 40 · 40",
        "  HD: 2 · 2",
        "  legacy: 1 · 1",
        "Wait, median / p90: 3.0 s / 11 s · 3.0 s / 11 s",
        "Painting, median / p90: 52 s / 1 min 26 s · 52 s / 1 min 26 s",
        "Failures (7 days): CUDA out of memory ×2",
        "Workers: 1 of 2 up, 1 busy; down: #2 exit code 1",
    ]


@pytest.mark.parametrize("lang", [lang for lang in i18n.LANGUAGES if lang != i18n.SOURCE])
def test_the_stats_text_in_every_other_language(lang: str) -> None:
    stats = a_day_of_jobs()
    workers = WorkersNow(configured=2, up={1: 100}, down={2: "exit code 1"}, idle=1, unavailable=False)
    report = texts.usage(UsageReport(stats, stats, workers), lang)
    unavailable = WorkersNow(configured=2, up={}, down={}, idle=0, unavailable=True)
    last = texts.usage(UsageReport(stats, stats, unavailable), lang).splitlines()[-1]
    assert "#2 exit code 1" in report and "CUDA out of memory ×2" in report and "  legacy: 1 · 1" in report
    assert texts.text(texts.TIER_LABELS["standard"], lang) in report
    english = ("Last 24", "Users", "Jobs", "done", "failed", "queued", "Wait", "Painting", "Failures", "Workers")
    assert not [word for word in english if word in report or word in last]
    assert "2" in last and last != report.splitlines()[-1]


def test_chart_labels_follow_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    assert texts.chart_labels("en") == ChartLabels()  # the English defaults are the catalogue's msgids
    assert texts.chart_labels("ru").title == "Заданий в час и медиана ожидания (UTC)"
    monkeypatch.setattr(texts, "LAYS_OUT_RIGHT_TO_LEFT", False)  # matplotlib before 3.11
    assert texts.chart_labels("fa") == ChartLabels()
    monkeypatch.setattr(texts, "LAYS_OUT_RIGHT_TO_LEFT", True)
    assert texts.chart_labels("fa").title == "کارها در هر ساعت و میانهٔ انتظار (UTC)"


@pytest.mark.parametrize("lang", ["ru", "fa"])
def test_the_chart_draws_translated_labels(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(texts, "LAYS_OUT_RIGHT_TO_LEFT", True)  # Persian labels even where they would not be sent
    labels = texts.chart_labels(lang)
    assert labels != ChartLabels()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = usage_chart(a_day_of_jobs(), labels)
        empty = usage_chart(replace(a_day_of_jobs(), hourly=[]), labels)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and empty.startswith(b"\x89PNG\r\n\x1a\n")
    assert not [w for w in caught if "missing from" in str(w.message)], [str(w.message) for w in caught]


async def test_json_logs_carry_the_job_and_never_the_token(fake: FakeTelegram, tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    prepare_handler(handler, settings_for(fake, tmp_path, log_format="json"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        executor = ScriptedExecutor(hold=True)
        async with running_bot(fake, tmp_path, executor):
            chat = fake.private_chat(541, "Jo")
            fake.send_photo(chat, None, photo_bytes(seed=1), caption="dots")
            await said(fake, chat, "Painting")
            fake.set_blocked(chat.id)
            executor.release()  # the result meets a 403: "job 1 is undeliverable" is logged in the job's task
            await until(fake, lambda: "undeliverable" in stream.getvalue(), "the undeliverable line")
            logging.getLogger("stylebot.test").warning("calling %s/getMe", f"{fake.base_url}{fake.token}")
            try:
                raise RuntimeError(f"boom at {fake.base_url}{fake.token}/sendPhoto")
            except RuntimeError:
                logging.getLogger("stylebot.test").exception("a failure")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    [undeliverable] = [e for e in entries if "is undeliverable" in e["message"]]
    assert undeliverable["job_id"] == 1
    assert undeliverable["chat_id"] == chat.id
    assert undeliverable["user_id"] == chat.id
    assert fake.token not in stream.getvalue()
    assert any("<token>" in e["message"] for e in entries)
    assert any("<token>" in e.get("exception", "") for e in entries)
