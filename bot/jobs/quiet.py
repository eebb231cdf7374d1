"""Keeping TensorFlow's native start-up chatter about missing GPUs off stderr on CPU-only servers."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

# Lines TensorFlow's C++ side prints while it looks for CUDA, before TF_CPP_MIN_LOG_LEVEL is read:
# absl's pre-init banner and the cudart stub's "Could not find cuda drivers", then cuInit's error.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc.*Could not find cuda drivers"
    r"|failed call to cuInit"
    r"|cpu_feature_guard\.cc|oneDNN custom operations are on"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions:"
)


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 inside the block; replay all but the known noise."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [
                line
                for line in caught.read().splitlines(keepends=True)
                if not NOISE.search(line.decode(errors="replace"))
            ]
            if kept:  # real errors (and Python warnings) still reach the log
                os.write(2, b"".join(kept))
