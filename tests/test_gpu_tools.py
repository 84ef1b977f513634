"""The prepared GPU tools (``make gpu-check``, ``make gpu-train``): their CPU mode (tiny sizes) runs every step
here, so the scripts a lent GPU machine runs cannot rot; the ``cuda`` test runs the check on a GPU machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from benchmarks.gpu_train import TARGETS, excess, guards_hold

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env)  # fmt: skip


@pytest.mark.distributed
def test_gpu_check_runs_every_step_on_the_cpu_with_tiny_sizes(tmp_path):
    r = _run(["benchmarks.gpu_check", "--out", str(tmp_path), "--device", "cpu"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "no CUDA here" in r.stdout or "cpu" in r.stdout
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    steps = {row["step"]: row for row in report["rows"]}
    for name in ("parity (fp32, seeded official-layout ADE20K)", "fast path against eager, lite model",
                 "kill and resume (bitwise)", "torchrun, one node", "export, opened by the Synthesizer"):  # fmt: skip
        assert steps[name]["ok"] is True, steps[name]
    assert steps["training, bf16"]["ok"] is True and steps["training, fp16"]["ok"] is None  # fp16: CUDA only
    assert not [row for row in report["rows"] if row["ok"] is False]
    assert "| torchrun, one node | ok" in (tmp_path / "gpu_check.md").read_text()
    with tarfile.open(tmp_path / "gpu_check_logs.tar.gz") as tar:
        assert any(n.endswith("torchrun.log") for n in tar.getnames())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu_check.json", "gpu_check.md", "gpu_check_logs.tar.gz"]


def test_gpu_train_trains_evaluates_exports_and_decides_on_the_cpu(tmp_path):
    r = _run(["benchmarks.gpu_train", "--model", "landscapes", "--minutes", "0.25", "--out", str(tmp_path)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_train.json").read_text())
    assert report["tiny"] and report["train"]["step"] >= 1
    assert report["ship"] is False  # a tiny run never replaces a bundled file
    from oasis_core.checkpoint import load_checkpoint

    mf = load_checkpoint(tmp_path / "landscapes-candidate.safetensors")
    assert mf.generator_config.upsample == "bilinear" and mf.generator_config.grain_levels == 2
    assert mf.generator_config.output_grain and mf.generator_state["grain_rgb"].shape[1] == 3
    assert "quality_colour_ratio" in report["eval_new"] and report["frame_ms_new"] > 0
    assert "| shipped | no" in (tmp_path / "gpu_train.md").read_text()
    assert len(list(tmp_path.iterdir())) <= 8  # what a device machine hands back


def test_the_score_counts_only_what_misses_a_target_and_the_guards_catch_regressions():
    met = {key: target * 0.9 for key, target, _ in TARGETS}
    assert excess(met) == 0.0
    worse = met | {"quality_texture_ratio": 2.8}  # twice the 1.4 target
    assert excess(worse) == pytest.approx(0.6931, abs=1e-3)
    assert guards_hold({"d_seg_prior_pixel_accuracy": 0.80}, {"d_seg_prior_pixel_accuracy": 0.86})
    assert not guards_hold({"d_seg_prior_pixel_accuracy": 0.855}, {"d_seg_prior_pixel_accuracy": 0.90})  # the bar
    assert not guards_hold({"d_seg_prior_pixel_accuracy": 0.50}, {"d_seg_prior_pixel_accuracy": 0.505})  # no worse
    assert guards_hold({"ms_ssim_diversity": 0.85}, {"ms_ssim_diversity": 0.80})
    assert not guards_hold({"ms_ssim_diversity": 0.796}, {"ms_ssim_diversity": 0.718})  # within the 0.8 bar


@pytest.mark.cuda
def test_gpu_check_on_cuda_with_tiny_sizes(tmp_path):
    r = _run(["benchmarks.gpu_check", "--out", str(tmp_path), "--device", "cuda", "--tiny"], timeout=900)
    assert r.returncode == 0, r.stdout[-3000:]
