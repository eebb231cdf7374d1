"""StyleResult: what every method returns (kept free of TensorFlow, so the instant method does not load it)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from engine.imaging import encode_image
from engine.progress import RunStats


@dataclass(frozen=True)
class StyleResult:
    """The stylised image and how the run went."""

    image: Image.Image
    stats: RunStats

    def to_bytes(self, fmt: str = "jpeg") -> bytes:
        """The image encoded as JPEG (quality 95) or PNG."""
        return encode_image(self.image, fmt)
