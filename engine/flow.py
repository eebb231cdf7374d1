"""Optical flow between source frames (OpenCV's DIS), warping by it, the occlusion test and scene cuts.

Flow is always computed on the *source* frames, never on painted ones: paint strokes are not motion.
"""

from __future__ import annotations

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
# A scene cut: the 32 px grey thumbnails differ by this much on average (0..255), or little is visible in both.
CUT_THUMB_SIDE = 32
CUT_MEAN_DIFF = 30.0
CUT_MIN_VISIBLE = 0.3


@dataclass(frozen=True)
class FramePair:
    """The flow from a frame back to the previous one and where that flow can be trusted."""

    backward: np.ndarray  # H x W x 2 float32 on the current frame's grid: where each pixel was before
    visible: np.ndarray  # H x W bool: seen in both frames (neither occluded nor on a motion boundary)

    @property
    def visible_share(self) -> float:
        """Share of the current frame's pixels visible in the previous one."""
        return float(self.visible.mean())


class FlowEstimator:
    """DIS optical flow at one preset; holds OpenCV's reusable estimator (one per thread)."""

    def __init__(self, preset: Preset = "fast") -> None:
        self.dis: Any = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]

    def pair(self, prev_gray: np.ndarray, cur_gray: np.ndarray) -> FramePair:
        """Both flows between two grey frames and the Ruder et al. visibility mask."""
        backward = self.dis.calc(cur_gray, prev_gray, None)
        forward = self.dis.calc(prev_gray, cur_gray, None)
        return FramePair(backward, visible_mask(backward, forward))


def gray(rgb: np.ndarray) -> np.ndarray:
    """The grey (uint8) image flow is computed on."""
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sampling coordinates x + u, y + v for cv2.remap."""
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(image: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The previous frame's `image` moved onto the current frame's grid (bilinear, edges repeated)."""
    map_x, map_y = _grid(backward)
    return np.asarray(cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))


def visible_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """True where a current pixel was visible in the previous frame (Ruder et al. 2016, eqs. 3 and 4).

    Occluded: the forward flow at the pixel's previous place does not lead back to it; on a motion
    boundary: the backward flow's gradient is large; and pixels whose previous place is off the frame.
    """
    map_x, map_y = _grid(backward)
    forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum((backward + forward_there) ** 2, axis=2)
    magnitudes = np.sum(backward**2, axis=2) + np.sum(forward_there**2, axis=2)
    consistent = round_trip <= CONSISTENCY_SCALE * magnitudes + CONSISTENCY_OFFSET
    du_y, du_x = np.gradient(backward[..., 0])
    dv_y, dv_x = np.gradient(backward[..., 1])
    gradient = du_x**2 + du_y**2 + dv_x**2 + dv_y**2
    smooth = gradient <= BOUNDARY_SCALE * np.sum(backward**2, axis=2) + BOUNDARY_OFFSET
    h, w = backward.shape[:2]
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return np.asarray(consistent & smooth & inside)


def thumbnail(gray_frame: np.ndarray) -> np.ndarray:
    """A CUT_THUMB_SIDE px grey thumbnail (float32) for the cut test."""
    small = cv2.resize(gray_frame, (CUT_THUMB_SIDE, CUT_THUMB_SIDE), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


def is_cut(prev_thumb: np.ndarray, cur_thumb: np.ndarray, pair: FramePair | None = None) -> bool:
    """A scene cut between two source frames: the picture changed wholesale, or the flow finds little in common."""
    if float(np.mean(np.abs(cur_thumb - prev_thumb))) > CUT_MEAN_DIFF:
        return True
    return pair is not None and pair.visible_share < CUT_MIN_VISIBLE
