"""Parity with the official OASIS networks (the acceptance test of the model library).

Seeded weights in the official checkpoint layout are rebuilt with ``shared/reference/official_weights.py``
(G seed 7, D seed 8), imported with the real ``oasis convert-official`` command, and run through the real
``oasis generate`` / ``oasis segment`` commands and the Python API. The outputs of the official networks for those
weights are in ``parity_ade20k_seed7.npz``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from oasis_core import noise as noise_ops
from oasis_core.synthesizer import Synthesizer

REPO = Path(__file__).resolve().parents[2]
IMAGE_TOL = 1e-3  # max abs difference of the generator image (in [-1, 1])
LOGIT_TOL = 1e-3  # max abs difference of the discriminator logits, relative to max |logit|


def run_cli(*args: str | Path) -> subprocess.CompletedProcess:
    """``python -m oasis_core.cli ARGS`` in a fresh process, from the repository root."""
    cmd = [sys.executable, "-m", "oasis_core.cli", *map(str, args)]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def _load_official_weights_module(path: Path):
    spec = importlib.util.spec_from_file_location("official_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def parity(reference_dir: Path) -> dict:
    npz = reference_dir / "parity_ade20k_seed7.npz"
    if not npz.is_file():
        pytest.skip(f"{npz} is absent")
    with np.load(npz, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    assert str(data["dataset"]) == "ade20k" and int(data["seed"]) == 7
    return data


@pytest.fixture(scope="module")
def converted_model(reference_dir: Path, parity: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded official-layout G (seed 7) and D (seed 8), converted once by the real CLI (~300 MB)."""
    folder = tmp_path_factory.mktemp("parity")
    official = _load_official_weights_module(reference_dir / "official_weights.py")
    for which, seed in (("G", 7), ("D", 8)):
        manifest = json.loads((reference_dir / f"official_ade20k_{which}.json").read_text())
        torch.save(official.seeded_state_dict(manifest, seed), folder / f"{which}.pth")
    out = folder / "m.safetensors"
    result = run_cli("convert-official", folder / "G.pth", folder / "D.pth", "--dataset", "ade20k", "-o", out)
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    for which in ("G", "D"):
        (folder / f"{which}.pth").unlink()  # keep the temporary folder small
    return out


def _assert_image_parity(image: np.ndarray, expected: np.ndarray) -> None:
    assert image.shape == expected.shape and image.dtype == np.float32
    diff = float(np.abs(image - expected).max())
    print(f"generator parity: max abs diff {diff:.2e} (tolerance {IMAGE_TOL})")
    assert diff <= IMAGE_TOL


def _assert_logit_parity(logits: np.ndarray, expected: np.ndarray) -> None:
    assert logits.shape == expected.shape
    scale = float(np.abs(expected).max())
    diff = float(np.abs(logits - expected).max())
    print(f"discriminator parity: max abs diff {diff:.2e}, max |logit| {scale:.2e}")
    assert diff <= LOGIT_TOL * scale


def test_parity_through_the_cli(converted_model: Path, parity: dict, tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", parity["labels"])  # ADE20K file value v is channel v
    np.save(tmp_path / "z.npy", parity["z"])
    np.save(tmp_path / "d_input.npy", parity["d_input"])

    gen = run_cli(
        "generate", "--model", converted_model, "--labels", tmp_path / "labels.npy", "--noise", tmp_path / "z.npy",
        "-o", tmp_path / "out.png", "--raw", tmp_path / "raw.npy", "--device", "cpu", "--dtype", "fp32",
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    _assert_image_parity(np.load(tmp_path / "raw.npy"), parity["image"])
    assert (tmp_path / "out.png").is_file()

    seg = run_cli(
        "segment", "--model", converted_model, tmp_path / "d_input.npy", "-o", tmp_path / "seg.png",
        "--logits", tmp_path / "lg.npy", "--device", "cpu", "--dtype", "fp32",
    )  # fmt: skip
    assert seg.returncode == 0, seg.stderr
    _assert_logit_parity(np.load(tmp_path / "lg.npy"), parity["d_logits"])


def test_parity_through_the_python_api(converted_model: Path, parity: dict) -> None:
    syn = Synthesizer.load(converted_model, device="cpu", dtype="fp32")
    assert syn.label_space.name == "ade20k" and syn.z_dim == 64
    h, w = parity["labels"].shape
    z = noise_ops.replicate(torch.from_numpy(parity["z"]), h, w)
    image = syn.generate_tensor(parity["labels"], z)[0].numpy()
    _assert_image_parity(image, parity["image"])
    logits = syn.discriminate(parity["d_input"])[0].numpy()
    _assert_logit_parity(logits, parity["d_logits"])
