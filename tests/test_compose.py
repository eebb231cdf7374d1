"""docker-compose.yml has the shape the README promises (no Docker engine here: structure only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def load() -> dict[str, Any]:
    """The parsed compose file."""
    return dict(yaml.safe_load(COMPOSE.read_text()))


def test_services_redis_bot_and_scalable_gpu_workers() -> None:
    services = load()["services"]
    assert set(services) == {"redis", "bot", "worker", "prometheus", "grafana"}
    redis = services["redis"]
    assert "--appendonly" in redis["command"] and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    bot, worker = services["bot"], services["worker"]
    assert bot["environment"]["STYLEBOT_EXECUTOR"] == "celery"
    assert bot["environment"]["STYLEBOT_BROKER_URL"] == worker["environment"]["STYLEBOT_BROKER_URL"]
    assert worker["command"] == ["stylebot", "worker"]
    assert "TELEGRAM_BOT_TOKEN" not in worker["environment"]  # workers never get the token
    assert worker["image"] == bot["image"]  # one image for both roles
    # --scale worker=N needs no fixed container name or published port on the worker
    assert "container_name" not in worker and "ports" not in worker
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"


def test_named_volumes_are_declared() -> None:
    document = load()
    used = {
        v.split(":")[0] for s in document["services"].values() for v in s.get("volumes", []) if not v.startswith(".")
    }
    assert used <= set(document["volumes"])


def test_prometheus_scrapes_the_bot_and_grafana_gets_the_dashboard() -> None:
    services = load()["services"]
    assert services["bot"]["environment"]["STYLEBOT_METRICS_PORT"] == "9108"
    root = COMPOSE.parent
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            assert not source.startswith(".") or (root / source).is_file(), volume
    scrape = yaml.safe_load((root / "deploy" / "prometheus.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for c in job.get("static_configs", []) for t in c["targets"]]
    assert "bot:9108" in targets
