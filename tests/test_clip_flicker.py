"""The flicker measure and its controls: per-frame painting fails it, the blend passes, a frozen frame fails."""

from __future__ import annotations

import numpy as np
import pytest

from engine.clip import ClipPainter, TemporalBlender
from engine.fast import FastStylizer
from engine.flicker import FIDELITY_GOAL, FLICKER_GOAL, FlickerMeter, FlickerReport, fidelity
from engine.params import StyleParams
from engine.video_io import ClipLimits, probe_clip, read_frames
from testing.clip_sources import data_dir, plan_for, style_image

SIDE = 192


@pytest.fixture(scope="module")
def measured() -> tuple[FlickerReport, dict[str, float]]:
    """The carphone clip (a person talking, 1.5 s) painted frame by frame, blended, and frozen on frame one."""
    source = data_dir() / "carphone_pristine.mp4"
    painter = ClipPainter(FastStylizer(threads=2), [style_image()], StyleParams(method="fast", max_side=SIDE))
    blender = TemporalBlender()
    meter = FlickerMeter()
    gaps: dict[str, list[float]] = {"blended": [], "frozen": []}
    frozen = None
    for frame in read_frames(source, probe_clip(source), plan_for(source, SIDE, 1.5), ClipLimits()):
        own = painter.paint_one(frame.rgb)
        blended = blender.blend(frame.rgb, own)
        frozen = own if frozen is None else frozen
        meter.add(frame.rgb, {"per_frame": own, "blended": blended, "frozen": frozen})
        gaps["blended"].append(fidelity(blended, own))
        gaps["frozen"].append(fidelity(frozen, own))
    return meter.report(), {name: float(np.mean(values)) for name, values in gaps.items()}


def test_per_frame_painting_fails_the_flicker_goal(measured: tuple[FlickerReport, dict[str, float]]) -> None:
    """The control: each frame painted on its own flickers far beyond the source's own change."""
    report, _ = measured
    assert report.pairs >= 40
    assert report.ratio("per_frame") > 3 * FLICKER_GOAL


def test_blended_clip_meets_the_flicker_goal(measured: tuple[FlickerReport, dict[str, float]]) -> None:
    """Blending along the flow brings the warping error within 1.5x the source's."""
    report, _ = measured
    assert report.ratio("blended") <= FLICKER_GOAL
    assert report.ratio("blended") < report.ratio("per_frame") / 4


def test_blended_frames_stay_close_to_their_own_painting(measured: tuple[FlickerReport, dict[str, float]]) -> None:
    """Fidelity: blended frames follow the motion; a frozen first frame does not (and must fail)."""
    _, gaps = measured
    assert gaps["blended"] <= FIDELITY_GOAL
    assert gaps["frozen"] > FIDELITY_GOAL
