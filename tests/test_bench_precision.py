"""The precision benchmark (``make bench``) runs: one tiny size through the bundled model, every dtype row."""

from __future__ import annotations

from pathlib import Path

import pytest

MODEL = Path(__file__).resolve().parents[1] / "resources" / "models" / "landscapes.safetensors"


@pytest.mark.skipif(not MODEL.exists(), reason="the bundled landscapes model is not in this checkout")
def test_the_precision_benchmark_times_every_dtype_and_rates_auto(capsys):
    from benchmarks.bench_precision import main
    from oasis_core.runtime import cpu_supports_bf16

    assert main(["--sizes", "64", "--repeats", "1", "--model", str(MODEL)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.strip().startswith("size"))
    assert ("bf16" in header) == cpu_supports_bf16() and "fp32" in header and "auto" in header
    row = next(line for line in out.splitlines() if line.strip().startswith("64x64"))
    assert row.count("ms") == len(header.split()) - 4  # size, "auto / fastest" aside: one time per dtype
    assert "the fastest dtype" in out.splitlines()[-1]
