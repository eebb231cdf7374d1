"""Optical flow between source frames (OpenCV's DIS), warping by it, the occlusion test and scene cuts.

Flow is always computed on the *source* frames, never on painted ones: paint strokes are not motion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

Preset = Literal["ultrafast", "fast", "medium"]
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Ruder et al. 2016, section 3.2: forward-backward consistency and motion-boundary thresholds (pixels).
CONSISTENCY_SCALE = 0.01
CONSISTENCY_OFFSET = 0.5
BOUNDARY_SCALE = 0.01
BOUNDARY_OFFSET = 0.002
# Deviation from Ruder et al.: the blend weighs the warped frame by a soft confidence, exp(-excess / SOFTNESS),
# where `excess` is how far a pixel is past the two thresholds above (in units of the threshold). Their hard 0/1
# test flips pixels between the warped and the fresh painting from one frame to the next as DIS's flow wavers on
# small frames, and each flip is a pop of new strokes: on bikes.mp4 the 6 % of pixels refused that way made 59 %
# of the blended clip's warping error. Softer lets more of a doubtful warp in (ghosts); at 8 the pan in bikes.mp4
# measured 1.34x the source's warping error (1.55x at 4), and the blend's distance from the fresh painting on
# truly occluded pixels rose only from 0.025 to 0.030 (docs/benchmarks.md).
SOFTNESS = 8.0
# DIS's presets were tuned on large video: "fast" estimates flow on a grid 4x smaller than the frame (finest
# scale 2), 64-128 px wide on a 256-512 px clip, too coarse for the strokes painted on it (bikes.mp4 at 512 px:
# 3.95x the source's warping error at scale 2, 2.05x at scale 1). The pipeline picks the coarsest scale whose grid
# is still this wide, but never finer than scale 1 (scale 0 follows noise: 10x on up-scaled carphone footage).
FLOW_GRID_SIDE = 256
# A scene cut: the 32 px grey thumbnails differ by this much on average (0..255), or little is visible in both.
CUT_THUMB_SIDE = 32
CUT_MEAN_DIFF = 30.0
CUT_MIN_VISIBLE = 0.3


@dataclass(frozen=True)
class FramePair:
    """The flow from a frame back to the previous one and where that flow can be trusted."""

    backward: np.ndarray  # H x W x 2 float32 on the current frame's grid: where each pixel was before
    visible: np.ndarray  # H x W bool: seen in both frames (neither occluded nor on a motion boundary)
    confidence: np.ndarray  # H x W float32 in 0..1: 1 where visible, falling off with how far a test failed

    @property
    def visible_share(self) -> float:
        """Share of the current frame's pixels visible in the previous one."""
        return float(self.visible.mean())


class FlowEstimator:
    """DIS optical flow at one preset; holds OpenCV's reusable estimator (one per thread)."""

    def __init__(self, preset: Preset = "fast", *, finest_scale: int | None = None) -> None:
        self.dis: Any = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]
        if finest_scale is not None:
            self.dis.setFinestScale(finest_scale)

    @classmethod
    def for_frames(cls, preset: Preset, width: int, height: int) -> FlowEstimator:
        """The pipeline's estimator for frames of this size: a flow grid of at least FLOW_GRID_SIDE px."""
        base = int(cv2.DISOpticalFlow_create(PRESETS[preset]).getFinestScale())  # type: ignore[attr-defined]
        fitting = int(math.log2(max(width, height, FLOW_GRID_SIDE) / FLOW_GRID_SIDE))
        return cls(preset, finest_scale=min(base, max(1, fitting)))

    def pair(self, prev_gray: np.ndarray, cur_gray: np.ndarray) -> FramePair:
        """Both flows between two grey frames, the Ruder et al. visibility mask and its soft confidence."""
        return frame_pair(self.dis.calc(cur_gray, prev_gray, None), self.dis.calc(prev_gray, cur_gray, None))


def frame_pair(backward: np.ndarray, forward: np.ndarray) -> FramePair:
    """The pair from both flows (any estimator's): Ruder et al.'s hard visibility and the soft confidence."""
    consistency, boundary, inside = _tests(backward, forward)
    visible = (consistency == 0) & (boundary == 0) & inside
    confidence = np.exp(-(consistency + boundary) / SOFTNESS) * inside
    return FramePair(backward, np.asarray(visible), np.asarray(confidence, dtype=np.float32))


def gray(rgb: np.ndarray) -> np.ndarray:
    """The grey (uint8) image flow is computed on."""
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sampling coordinates x + u, y + v for cv2.remap."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, backward: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """The previous frame's `image` moved onto the current frame's grid (bilinear or bicubic, edges repeated)."""
    map_x, map_y = _grid(backward)
    interpolation = cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return np.asarray(cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE))


def _tests(backward: np.ndarray, forward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ruder et al. 2016's two tests (eqs. 3 and 4): how far past each threshold a pixel is (0: passes), and inside.

    Occluded: the forward flow at the pixel's previous place does not lead back to it; on a motion
    boundary: the backward flow's gradient is large; outside: the pixel's previous place is off the frame.
    Both excesses are in units of the pixel's own threshold.
    """
    map_x, map_y = _grid(backward)
    forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((backward + forward_there) ** 2, axis=2)
    magnitudes = np.sum(backward**2, axis=2) + np.sum(forward_there**2, axis=2)
    consistency_limit = CONSISTENCY_SCALE * magnitudes + CONSISTENCY_OFFSET
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    gradient = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    boundary_limit = BOUNDARY_SCALE * np.sum(backward**2, axis=2) + BOUNDARY_OFFSET
    h, w = backward.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    consistency = np.maximum(round_trip - consistency_limit, 0) / consistency_limit
    boundary = np.maximum(gradient - boundary_limit, 0) / boundary_limit
    return consistency, boundary, inside


def thumbnail(gray_frame: np.ndarray) -> np.ndarray:
    """A CUT_THUMB_SIDE px grey thumbnail (float32) for the cut test."""
    small = cv2.resize(gray_frame, (CUT_THUMB_SIDE, CUT_THUMB_SIDE), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def is_cut(prev_thumb: np.ndarray, cur_thumb: np.ndarray, pair: FramePair | None = None) -> bool:
    """A scene cut between two source frames: the picture changed wholesale, or the flow finds little in common."""
    if float(np.mean(np.abs(cur_thumb - prev_thumb))) > CUT_MEAN_DIFF:
        return True
    return pair is not None and pair.visible_share < CUT_MIN_VISIBLE
