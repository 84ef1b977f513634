"""Shared test fixtures: repository paths, the shared data/reference folders, and a tiny real model file.

Fixtures for everyone:
- ``repo_dir``: the repository root (also the module constant ``REPO``).
- ``shared_dir``: ``REPO.parent / "shared"`` (may not exist on a fresh clone).
- ``reference_dir`` / ``data_dir``: ``shared/reference`` and ``shared/data``; the test is skipped, with the path in
  the reason, when the folder is absent.
- ``tiny_configs``: ``(GeneratorConfig, DiscriminatorConfig, LabelSpace)`` of a lite model on the landscapes labels.
- ``tiny_networks``: a fresh seeded ``(Generator, Discriminator)`` pair (plain convolutions, eval mode) holding
  exactly the weights stored in ``tiny_model_file``.
- ``tiny_model_file``: a real ``.safetensors`` model file written by ``save_checkpoint`` (generator +
  discriminator). It is shared by the whole session: treat it as read-only (copy it to change it).

The tiny weights are "lively": every conv weight is drawn with std 1/sqrt(fan_in) (not the paper's 0.02 xavier
gain) and the BN statistics are non-trivial, so the noise and the labels visibly change the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from oasis_core.checkpoint import save_checkpoint
from oasis_core.config import DiscriminatorConfig, GeneratorConfig
from oasis_core.labels import LabelSpace, landscapes
from oasis_core.nn import Discriminator, Generator
from oasis_core.nn.spectral import init_unit_gain

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# tests/ mirrors the packages (oasis_core/, app/, train/); their shared helpers live in tests/helpers/
sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))

TINY_SEED = 1234


def tiny_configs() -> tuple[GeneratorConfig, DiscriminatorConfig, LabelSpace]:
    """A lite generator (output = multiples of 32) and discriminator (multiples of 64) for the landscapes labels."""
    space = landscapes()
    gcfg = GeneratorConfig(semantic_nc=space.num_channels, ch=8, spade_hidden=16, z_dim=16)
    dcfg = DiscriminatorConfig(semantic_nc=space.num_channels, channels=(3, 16, 16, 32, 32, 64, 64))
    return gcfg, dcfg, space


def lively_init(module: nn.Module, seed: int) -> nn.Module:
    """Seeded unit-gain weights (``oasis_core.nn.spectral.init_unit_gain``): noise and labels visibly matter."""
    return init_unit_gain(module, seed)


def build_tiny_networks(seed: int = TINY_SEED) -> tuple[Generator, Discriminator]:
    gcfg, dcfg, _ = tiny_configs()
    g = lively_init(Generator(gcfg, spectral_norm=False), seed).eval()
    with torch.no_grad():  # activations grow through the residual blocks: keep the image in tanh's linear range
        g.conv_img.weight.mul_(0.2)
    d = lively_init(Discriminator(dcfg, spectral_norm=False), seed + 1).eval()
    return g, d


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    path = shared_dir / "reference"
    if not path.is_dir():
        pytest.skip(f"the shared reference folder {path} is absent (it sits next to the repository)")
    return path


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data"
    if not path.is_dir():
        pytest.skip(f"the shared data folder {path} is absent (it sits next to the repository)")
    return path


@pytest.fixture(name="tiny_configs", scope="session")
def tiny_configs_fixture() -> tuple[GeneratorConfig, DiscriminatorConfig, LabelSpace]:
    return tiny_configs()


@pytest.fixture
def tiny_networks() -> tuple[Generator, Discriminator]:
    return build_tiny_networks()


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    g, d = build_tiny_networks()
    _, _, space = tiny_configs()
    path = tmp_path_factory.mktemp("tiny_model") / "tiny.safetensors"
    return save_checkpoint(
        path,
        g,
        d,
        label_space=space,
        name="tiny test model",
        natural_size=(64, 64),
        provenance={"source": "tests/conftest.py", "seed": TINY_SEED},
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` run only where torch sees a CUDA device (``make gpu-check``'s machine)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device here (the cuda tests run on a GPU machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
