"""Reliability: sizes that cannot fit are refused before anything is allocated, with one sentence and nothing
written; numeric options out of range are refused; damaged model metadata is refused. Real entry points: the CLIs in
subprocesses (with an address-space limit where the case is about memory), the app through pytest-qt.

The memory cases run the child under ``ulimit -v`` (``resource.RLIMIT_AS``): without the checks such a child dies
of ``MemoryError`` / std::bad_alloc with a traceback, or is killed; with them it exits 2 with one sentence.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_helpers import close_window, make_tiny_model, open_window, wait_for
from data_helpers import make_landscapes_folder
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from oasis_core import memory
from oasis_core.checkpoint import CheckpointError, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
LIMIT = 3 << 30  # the address space a memory case's child may use (torch alone maps ~1 GB)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run(module: str, *args: str, limit: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        preexec_fn=_limit_memory if limit else None,
    )


def one_sentence(p: subprocess.CompletedProcess, prefix: str, *fragments: str) -> str:
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr[-2000:]
    assert lines[0].startswith(prefix), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny.safetensors")


# --------------------------------------------------------------------- the estimates themselves
def test_the_estimates_grow_with_size_and_batch_and_the_refusal_names_both_figures():
    w = memory.Widths(75, 32, 16)  # the lite generator
    a = memory.generation_bytes(w, 256, 256)
    b = memory.generation_bytes(w, 512, 512)
    assert 3.5 < (b - memory.FIXED_BYTES) / (a - memory.FIXED_BYTES) < 4.5
    assert memory.generation_bytes(w, 256, 256, batch=4) - memory.FIXED_BYTES > 3.9 * (a - memory.FIXED_BYTES)
    assert memory.generation_bytes(w, 512, 512, fast=False) > b
    assert memory.training_bytes(w, 128, 128, 8) > memory.generation_bytes(w, 128, 128, 8, fast=False)
    with pytest.raises(memory.MemoryEstimateError) as e:
        memory.require(5 << 30, "Generating a 8192x8192 image", have=2 << 30)
    assert str(e.value) == (
        "Generating a 8192x8192 image needs about 5.0 GB of memory, but only 2.0 GB is available; "
        "choose a smaller size."
    )
    memory.require(1 << 30, "x", have=2 << 30)  # fits: no error


def test_available_memory_follows_the_address_space_limit_and_the_user_cap():
    code = (
        "import resource; from oasis_core import memory; "
        "resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); print(memory.available_bytes())"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert 0 < int(p.stdout) < 6 << 30
    p = subprocess.run(
        [sys.executable, "-c", "from oasis_core import memory; print(memory.available_bytes())"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OASIS_MEMORY_LIMIT": "700M"},
    )
    assert int(p.stdout) <= 700 << 20
    assert memory.parse_bytes("8G") == 8 << 30 and memory.parse_bytes("512m") == 512 << 20
    with pytest.raises(ValueError):
        memory.parse_bytes("lots")


# --------------------------------------------------------------------- oasis generate / oasis-train
def test_generate_refuses_a_size_that_cannot_fit_and_writes_nothing(tmp_path, tiny):
    lab = tmp_path / "l.png"
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(lab)
    out = tmp_path / "out.png"
    gen = ["oasis_core.cli", "generate", "--model", tiny, "--labels", lab, "-o", out, "--device", "cpu"]
    p = run(*gen, "--size", "8192x8192", limit=True)
    one_sentence(p, "oasis generate: error: Generating a 8192x8192 image needs about", "choose a smaller size")
    assert not out.exists() and sorted(x.name for x in tmp_path.iterdir()) == ["l.png"]
    p = run(*gen, "--size", "256x256", limit=True)
    assert p.returncode == 0, p.stderr
    assert Image.open(out).size == (256, 256)


def test_fit_refuses_a_training_size_that_cannot_fit_before_it_builds_anything(tmp_path):
    run_dir = tmp_path / "run"
    data = tmp_path / "data"
    p = run(
        "train", "fit", "--dataset", "landscapes", "--data", data, "--size", "8192x8192", "--batch", "8",
        "--iters", "1", "--run-dir", run_dir, "--workers", "0", "--device", "cpu", limit=True,
    )  # fmt: skip
    one_sentence(p, "oasis-train fit: error: Training at 8192x8192 with batch 8 needs about", "--size or --batch")
    assert not run_dir.exists()
    p = run("train", "fit", "--dataset", "landscapes", "--data", data, "--size", "100000x100000", "--iters", "1",
            "--run-dir", run_dir)  # fmt: skip
    assert p.returncode == 2 and "at most 8192 pixels" in p.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["eval", "RUN", "--limit", "-1"], "--limit: expected a whole number >= 1"),
        (["eval", "RUN", "--samples", "1"], "--samples: expected a whole number >= 2"),
        (["fit", "--ema-decay", "7"], "the EMA decay must be in [0, 1)"),
        (["fit", "--lr-g", "-0.1"], "--lr-g: expected a finite number > 0"),
        (["fit", "--lr-d", "nan"], "--lr-d: expected a finite number > 0"),
        (["fit", "--workers", "-2"], "--workers: expected a whole number >= 0"),
        (["fit", "--ch", "0"], "--ch: expected a whole number >= 1"),
        (["make-landscapes", "-o", "OUT", "--size", "65536x65536"], "at most 8192 pixels"),
        (["make-landscapes", "-o", "OUT", "--val-fraction", "1.5"], "between 0 and 1"),
    ],
)
def test_numeric_options_out_of_range_are_refused_by_name(tmp_path, args, fragment):
    fit_base = ["--dataset", "landscapes", "--data", str(tmp_path), "--iters", "1", "--run-dir", str(tmp_path / "r")]
    argv = [a.replace("RUN", str(tmp_path)).replace("OUT", str(tmp_path / "out")) for a in args]
    if argv[0] == "fit":
        argv = ["fit", *fit_base, *argv[1:]]
    p = run("train", *argv)
    assert p.returncode == 2, p.stderr
    assert fragment in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "out").exists()


# --------------------------------------------------------------------- model files
def _rewrite(src: Path, dst: Path, tensors=None, meta_edit=None) -> Path:
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
        names = f.keys()
        state = {k: f.get_tensor(k) for k in names}
    if tensors:
        state = tensors(state)
    if meta_edit:
        doc = json.loads(meta["oasis"])
        meta_edit(doc)
        meta["oasis"] = json.dumps(doc)
    save_file(state, str(dst), metadata=meta)
    return dst


def test_model_files_with_absurd_metadata_or_non_float_weights_are_refused(tmp_path, tiny):
    def natural(v):
        return lambda d: d.__setitem__("natural_size", v)

    for name, edit, fragment in [
        ("huge", natural([1_000_000_000_000, 8]), "natural_size"),
        ("bool", natural([True, 256]), "natural_size"),
        ("big", natural([16384, 16384]), "sides of 16 to 8192"),
        ("ch", lambda d: d["generator"].__setitem__("ch", 10**9), "cannot be built"),
    ]:
        with pytest.raises(CheckpointError, match=fragment):
            load_checkpoint(_rewrite(tiny, tmp_path / f"{name}.safetensors", meta_edit=edit))

    def as_int(state):
        k = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
        return {**state, k: state[k].to(__import__("torch").int32)}

    with pytest.raises(CheckpointError, match="stored as int32; model weights must be float32"):
        load_checkpoint(_rewrite(tiny, tmp_path / "int.safetensors", tensors=as_int))

    def as_bool(state):
        k = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
        return {**state, k: state[k] > 0}

    with pytest.raises(CheckpointError, match="stored as bool; model weights must be float32"):
        load_checkpoint(_rewrite(tiny, tmp_path / "bool.safetensors", tensors=as_bool))

    def as_fp8(state):
        import torch

        k = next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)
        return {**state, k: state[k].to(torch.float8_e4m3fn)}

    with pytest.raises(CheckpointError, match="stored as float8_e4m3fn"):
        load_checkpoint(_rewrite(tiny, tmp_path / "fp8.safetensors", tensors=as_fp8))

    deep = tmp_path / "deep.safetensors"
    _rewrite(tiny, deep)
    # metadata nested 100,000 levels deep: JSON's recursion limit, not a traceback
    with safe_open(str(deep), framework="pt") as f:
        meta = dict(f.metadata())
        names = f.keys()
        state = {k: f.get_tensor(k) for k in names}
    meta["oasis"] = "[" * 100_000 + "]" * 100_000
    save_file(state, str(deep), metadata=meta)
    with pytest.raises(CheckpointError, match="nested too deeply|not a JSON object|not valid JSON"):
        load_checkpoint(deep)


# --------------------------------------------------------------------- the app
@pytest.mark.gui
def test_the_app_refuses_canvases_that_cannot_fit_and_keeps_the_open_scene(qtbot, tmp_path, tiny, monkeypatch):
    from app.doc.project_file import save_project
    from app.doc.scene import Scene

    win = open_window(qtbot, tmp_path, tiny, size=(64, 64))
    try:
        before = win.scene.labels.copy()
        monkeypatch.setenv("OASIS_MEMORY_LIMIT", "256M")  # as if this machine had little memory left
        big = tmp_path / "big.png"
        Image.fromarray(np.full((4096, 4096), 7, np.uint8)).save(big)
        assert not win.files.open_label_map(big)
        assert win.messages[-1].title == "Cannot open label map"
        assert "big.png: A 4096x4096 canvas on" in win.messages[-1].text and "needs about" in win.messages[-1].text
        assert np.array_equal(win.scene.labels, before)

        project = tmp_path / "big.oasis"
        save_project(project, Scene(np.full((4096, 4096), 7, np.uint8)), model_hash=win.info.model_hash)
        assert not win.files.open_project(project)
        assert "A 4096x4096 canvas" in win.messages[-1].text and "The open scene is kept" in win.messages[-1].text
        assert np.array_equal(win.scene.labels, before)

        win.files.new_canvas(4096, 4096)
        assert win.messages[-1].title == "Canvas too large"
        assert win.scene.shape == (64, 64)
        monkeypatch.delenv("OASIS_MEMORY_LIMIT")
        wide = tmp_path / "wide.png"
        Image.new("L", (9000, 32), 7).save(wide)
        assert not win.files.open_label_map(wide)
        assert "larger than the 8192 pixels a side" in win.messages[-1].text
    finally:
        close_window(win)


@pytest.mark.gui
def test_the_app_keeps_its_canvas_on_a_label_map_bomb_and_on_models_whose_natural_size_is_absurd_or_too_big(
    qtbot, tmp_path, tiny, monkeypatch
):
    """A label PNG whose header claims 60000x60000 pixels is refused before decoding; a model whose natural size
    is 1e12 is refused on load and the open model and scene stay; a model whose (valid) 8192x8192 natural size
    does not fit opens on a smaller canvas of its aspect, with a warning."""
    from photo_helpers import bomb_png

    from app.selftest import wait_idle

    win = open_window(qtbot, tmp_path, tiny, size=(64, 64))
    try:
        before, model = win.scene.labels.copy(), win.info.model_hash
        assert not win.files.open_label_map(bomb_png(tmp_path / "bomb.png", 60000, 60000))
        assert win.messages[-1].title == "Cannot open label map" and "bomb.png" in win.messages[-1].text
        assert np.array_equal(win.scene.labels, before)

        absurd = _rewrite(tiny, tmp_path / "absurd.safetensors", meta_edit=lambda d: d.__setitem__(
            "natural_size", [10**12, 8]))  # fmt: skip
        shown = len(win.messages)
        win.models.load_model(absurd)
        assert wait_for(lambda: len(win.messages) > shown, 60)
        assert "natural_size" in win.messages[-1].text
        assert win.info.model_hash == model and np.array_equal(win.scene.labels, before)

    finally:
        close_window(win)
    big = _rewrite(tiny, tmp_path / "big.safetensors", meta_edit=lambda d: d.__setitem__(
        "natural_size", [8192, 4096]))  # fmt: skip
    monkeypatch.setenv("OASIS_MEMORY_LIMIT", "512M")  # a start with this model: its first canvas would not fit
    (tmp_path / "second").mkdir()
    win = open_window(qtbot, tmp_path / "second", big)
    try:
        assert any(m.title == "Smaller canvas" for m in win.messages), [m.text for m in win.messages]
        assert max(win.scene.shape) <= 256 and win.scene.shape[0] == 2 * win.scene.shape[1]
        assert wait_idle(win, 60)
        assert win.canvas.image is not None and win.canvas.image.shape[:2] == win.scene.shape
    finally:
        close_window(win)


# --------------------------------------------------------------------- one training process per run folder
def test_a_second_fit_on_a_busy_run_folder_is_refused_and_a_killed_run_leaves_no_stale_lock(tmp_path):
    import signal
    import time

    data = make_landscapes_folder(tmp_path / "data")
    run_dir = tmp_path / "run"
    base = ["train", "fit", "--dataset", "landscapes", "--data", data, "--preset", "tiny", "--size", "64x64",
            "--batch", "2", "--run-dir", run_dir, "--sample-every", "0", "--workers", "0",
            "--save-every", "2"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [sys.executable, "-m", *map(str, base), "--iters", "100000"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "state.pt").exists():
            assert first.poll() is None, first.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        config = (run_dir / "config.json").read_bytes()
        second = run(*base, "--iters", "3", "--resume", "--lr-g", "0.5")
        line = one_sentence(second, "oasis-train fit: error: the run folder", "is in use by another process")
        assert f"(process {first.pid})" in line and "choose another --run-dir" in line
        assert (run_dir / "config.json").read_bytes() == config, "the refused run wrote nothing"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    step = int(load_step(run_dir / "state.pt"))
    third = run(*base, "--iters", str(step + 2), "--resume")
    assert third.returncode == 0, third.stderr[-2000:]
    assert load_step(run_dir / "state.pt") == step + 2


def load_step(path: Path) -> int:
    from train.loop import load_state

    return int(load_state(path)["step"])


# --------------------------------------------------------------------- project files
def test_oversized_thumbnails_in_a_project_are_dropped_without_decoding_them(tmp_path):
    import time
    import zipfile

    from photo_helpers import bomb_png

    from app.doc import HistoryEntry, Scene
    from app.doc.project_file import load_project, save_project

    s = Scene.blank(64, 64, 1)
    for i in range(12):
        s.add_history(HistoryEntry(s.labels.copy(), i, (), thumbnail=np.full((8, 8, 3), i, np.uint8)))
    good = tmp_path / "good.oasis"
    save_project(good, s, model_hash="ab" * 32)
    bomb = bomb_png(tmp_path / "bomb.png", 10000, 10000).read_bytes()
    bad = tmp_path / "bad.oasis"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = bomb if item.filename.startswith("history/thumb_") else zin.read(item)
            zout.writestr(item, data)
    assert bad.stat().st_size < 100_000
    t0 = time.perf_counter()
    project = load_project(bad)
    assert time.perf_counter() - t0 < 5, "the 10000x10000 thumbnails were not decoded"
    assert len(project.scene.history) == 12
    assert all(e.thumbnail is None for e in project.scene.history)
    assert np.array_equal(project.scene.labels, s.labels)


def test_a_project_member_that_inflates_beyond_its_declared_size_is_refused_without_inflating_it(tmp_path):
    """A zip member that declares 1,000 bytes but inflates to 64 MB (a zip bomb by lying headers): the project is
    refused in one sentence, and reading it never holds more than a few MB."""
    import struct
    import tracemalloc
    import zipfile

    from app.doc import Scene
    from app.doc.project_file import ProjectError, load_project, save_project

    good = tmp_path / "good.oasis"
    save_project(good, Scene.blank(64, 64, 1), model_hash="ab" * 32)
    bad = tmp_path / "bad.oasis"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, b"\0" * (64 << 20) if item.filename == "labels.png" else zin.read(item))
    raw = bytearray(bad.read_bytes())
    name = b"labels.png"
    for sig, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):  # local and central headers
        at = raw.find(sig)
        while raw[at + name_at : at + name_at + len(name)] != name:
            at = raw.find(sig, at + 4)
        raw[at + size_at : at + size_at + 4] = struct.pack("<I", 1000)  # the declared (uncompressed) size
    bad.write_bytes(bytes(raw))
    assert bad.stat().st_size < 1_000_000
    tracemalloc.start()
    try:
        with pytest.raises(ProjectError, match="bad.oasis is not a usable OASIS Studio project") as err:
            load_project(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "labels.png" in str(err.value) and "\n" not in str(err.value)
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MB held while reading"


# --------------------------------------------------------------------- silent wrong output, tracebacks
def _npy_header_only(path: Path, shape: tuple, descr: str = "<f4") -> Path:
    """A .npy file of a few bytes whose header claims ``shape``."""
    import struct

    hdr = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    hdr += " " * (64 - (10 + len(hdr) + 1) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + b"\0" * 64)
    return path


@pytest.fixture(scope="module")
def tiny_d(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("models_d") / "tiny_d.safetensors", with_discriminator=True)


def test_npy_inputs_are_checked_before_they_are_loaded_or_used(tmp_path, tiny, tiny_d, capsys):
    from oasis_core import cli

    def refused(argv, *fragments):
        rc = cli.main([str(a) for a in argv])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        for f in fragments:
            assert f in err, (f, err)

    out = tmp_path / "o.png"
    frac = tmp_path / "frac.npy"
    np.save(frac, np.full((64, 64), 6.7))
    refused(["generate", "--model", tiny, "--labels", frac, "-o", out], "whole-number ids")
    huge = _npy_header_only(tmp_path / "huge.npy", (200000, 200000), "<i8")
    refused(["generate", "--model", tiny, "--labels", huge, "-o", out], "200000x200000 is larger than")
    ok = tmp_path / "ok.npy"
    np.save(ok, np.full((64, 64), 6, np.int64))
    noise = _npy_header_only(tmp_path / "noise.npy", (8, 90000, 90000))
    refused(["generate", "--model", tiny, "--labels", ok, "--noise", noise, "-o", out], "a noise array of shape")
    nan = np.zeros((3, 64, 64), np.float32)
    nan[0, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    refused(["segment", "--model", tiny_d, tmp_path / "nan.npy", "-o", out], "NaN or infinite")
    assert not out.exists()


def test_a_16_bit_grayscale_photo_is_scaled_not_clipped(tmp_path):
    from oasis_core.imageio import read_rgb

    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    rgb = read_rgb(tmp_path / "g16.png")
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert abs(rgb.mean() - ramp.mean() / 65535 * 255) < 1
    assert (rgb == 255).mean() < 0.01, "it was read as mostly white before"


def test_training_on_cuda_without_cuda_is_one_sentence(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    p = run("train", "fit", "--dataset", "landscapes", "--data", make_landscapes_folder(tmp_path / "d"),
            "--iters", "1", "--run-dir", tmp_path / "r", "--device", "cuda", "--workers", "0")  # fmt: skip
    one_sentence(p, "oasis-train fit: error: --device cuda was asked for", "no CUDA GPU")


def test_a_project_with_absurdly_nested_json_is_refused_in_one_sentence(tmp_path):
    import zipfile

    from app.doc.project_file import ProjectError, load_project

    path = tmp_path / "nested.oasis"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("scene.json", "[" * 200_000 + "]" * 200_000)
    with pytest.raises(ProjectError, match="nested too deeply|not valid JSON"):
        load_project(path)


def test_bad_training_data_stops_fit_before_the_first_step_and_the_check_is_cached(tmp_path):
    data = make_landscapes_folder(tmp_path / "data")
    bad = data / "train" / "labels" / "003.png"
    good = np.asarray(Image.open(bad))
    broken = good.copy()
    broken[:4, :4] = 200  # not a landscapes class
    Image.fromarray(broken).save(bad)
    run_dir = tmp_path / "run"
    base = ["train", "fit", "--dataset", "landscapes", "--data", data, "--preset", "tiny", "--size", "64x64",
            "--batch", "2", "--run-dir", run_dir, "--sample-every", "0", "--workers", "1"]  # fmt: skip
    p = run(*base, "--iters", "2")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    errors = [x for x in p.stderr.splitlines() if "error" in x]  # the rest is the check's progress bar
    assert len(errors) == 1 and errors[0].startswith("oasis-train fit: error: the training data has problems:")
    assert "003.png: label values 200 are not classes" in errors[0]
    assert not (run_dir / "state.pt").exists(), "refused before the first step"
    Image.fromarray(good).save(bad)
    p = run(*base, "--iters", "2")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "checked every training pair" in p.stderr
    p = run(*base, "--iters", "3", "--resume")
    assert p.returncode == 0 and "checked every training pair" not in p.stderr, "unchanged data is not checked again"


@pytest.mark.gui
def test_a_photo_whose_canvas_would_break_the_size_rules_is_refused_before_it_is_decoded(qtbot, tmp_path, tiny_d):
    win = open_window(qtbot, tmp_path, tiny_d, size=(64, 64))
    try:
        before = win.scene.labels.copy()
        strip = tmp_path / "strip.png"
        Image.new("RGB", (100000, 4), (90, 140, 200)).save(strip)
        assert win.photo.import_photo(strip) == 0
        assert win.messages[-1].title == "Cannot import photo"
        assert "strip.png is 100000x4" in win.messages[-1].text and "8192 pixels a side" in win.messages[-1].text
        assert np.array_equal(win.scene.labels, before)
        photo = tmp_path / "ok.png"
        Image.new("RGB", (96, 64), (90, 140, 200)).save(photo)
        assert win.photo.import_photo(photo) != 0, "an ordinary photo still imports"
        from app.selftest import wait_idle

        assert wait_idle(win, 60)
    finally:
        close_window(win)


def test_temporary_files_a_killed_save_left_are_removed_by_the_next_save(tmp_path):
    """kill -9 during a save leaves ``.NAME.xxxx.tmp`` beside the file: the next save of that file deletes it (and
    keeps a fresh one, which may be another process's save in progress)."""
    import time

    from app.doc import Scene
    from app.doc.project_file import save_project

    target = tmp_path / "trip.oasis"
    code = (
        "import os, sys\n"
        "from oasis_core.files import atomic_writer\n"
        f"with atomic_writer({str(target)!r}) as f:\n"
        "    f.write(b'half a project')\n"
        "    f.flush()\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60)
    assert p.returncode == -9
    left = list(tmp_path.glob(".trip.oasis.*.tmp"))
    assert len(left) == 1 and not target.exists()
    old = time.time() - 3600
    os.utime(left[0], (old, old))
    fresh = tmp_path / ".trip.oasis.inprogress.tmp"
    fresh.write_bytes(b"another save, running now")
    save_project(target, Scene.blank(32, 32, 1))
    assert target.is_file()
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted([fresh.name, "trip.oasis"])


@pytest.mark.gui
def test_the_app_survives_a_thousand_new_styles_and_none_keeps_its_references(qtbot, tmp_path, tiny):
    """The PySide6 6.12.0 bug took one reference from None per void Qt call: the app aborted after ~130 new
    styles (a count that falls to zero frees None). 1,000 new styles through the real window, each waited for:
    None's count must not fall, and once the history and undo caps are reached the Python objects the session
    holds must stop growing. (With PySide6 6.11.3 the count *rises* by about 20 per image, a harmless extra
    reference some C code keeps on None, which no object holds: it cannot reach zero.)"""
    from app.selftest import wait_idle

    win = open_window(qtbot, tmp_path, tiny, size=(64, 64))
    try:
        assert wait_idle(win, 30)

        def new_styles(n: int) -> None:
            for _ in range(n):
                serial = win.session.image_serial
                win.generation.new_style()
                assert wait_for(lambda s=serial: win.session.image_serial > s, 30)
            assert wait_idle(win, 30)

        import gc

        new_styles(600)  # the history (500) and undo (200) caps are reached: what the session holds stops growing
        gc.collect()
        before, objects = sys.getrefcount(None), len(gc.get_objects())
        new_styles(400)
        gc.collect()
        drift = sys.getrefcount(None) - before
        assert drift > -50, f"None lost {-drift} references over 400 new styles: the PySide6 bug is back"
        grown = len(gc.get_objects()) - objects
        assert grown < 2000, f"{grown} more Python objects after 400 more new styles: the session leaks"
        assert len(win.scene.history) == 500, "the history stays at its cap"
        assert win.history_panel.list.count() == 500
    finally:
        close_window(win)


def test_outputs_that_cannot_be_written_are_one_sentence_naming_the_file(tmp_path, tiny, capsys):
    from oasis_core import cli
    from oasis_core.files import WriteError, atomic_write_bytes

    lab = tmp_path / "l.png"
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(lab)
    folder = tmp_path / "out.png"
    folder.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target, reason in [(folder, "it is a folder"), (blocker / "x.png", f"{blocker} is a file, not a folder")]:
        rc = cli.main(["generate", "--model", str(tiny), "--labels", str(lab), "-o", str(target)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err == f"oasis generate: error: cannot write {target}: {reason}", err
    with pytest.raises(WriteError) as e:
        atomic_write_bytes(blocker / "y.bin", b"data")
    assert e.value.reason == f"{blocker} is a file, not a folder"
    assert str(e.value).startswith(f"cannot write {blocker / 'y.bin'}")


def test_an_unreadable_model_file_is_reported_as_unreadable_not_missing(tmp_path, tiny, monkeypatch):
    import builtins

    import oasis_core.checkpoint as ckpt

    copy = tmp_path / "locked.safetensors"
    copy.write_bytes(tiny.read_bytes())
    if os.geteuid() != 0:
        copy.chmod(0)
    else:  # root reads every file: make the open fail as it does for a user without permission
        real_open = builtins.open

        def guarded(file, *a, **k):
            if str(file) == str(copy):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", guarded)
    with pytest.raises(CheckpointError) as e:
        ckpt.read_document(copy)
    assert "permission denied" in str(e.value) and "no such" not in str(e.value)


@pytest.mark.gui
def test_the_app_starts_and_quits_cleanly_again_and_again(tmp_path, tiny):
    """The PySide6 bug that dropped references to None made about one quit in six abort (exit 134,
    "Fatal Python error: none_dealloc"). Five real starts: each makes its first image, quits, and exits 0."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "OASIS_STUDIO_RECOVERY_DIR": str(tmp_path / "recovery")}  # fmt: skip
    for i in range(5):
        shot = tmp_path / f"shot{i}.png"
        p = subprocess.run(
            [sys.executable, "-m", "app.main", "--fresh", "--model", str(tiny), "--screenshot", str(shot)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert p.returncode == 0, (i, p.returncode, p.stderr[-2000:])
        assert "Fatal Python error" not in p.stderr
        assert shot.is_file()
    assert not list((tmp_path / "recovery").glob("*.oasis")), "clean exits leave no recovery copies"


def test_an_empty_or_damaged_training_state_is_one_sentence(tmp_path):
    data = make_landscapes_folder(tmp_path / "data")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = ["train", "fit", "--dataset", "landscapes", "--data", data, "--preset", "tiny", "--size", "64x64",
            "--iters", "2", "--run-dir", run_dir, "--workers", "0", "--resume"]  # fmt: skip
    (run_dir / "state.pt").write_bytes(b"")
    p = run(*base)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert "state.pt is empty" in p.stderr.strip().splitlines()[-1]
    (run_dir / "state.pt").write_bytes(b"PK\x03\x04 truncated")
    p = run(*base)
    assert p.returncode == 2 and "is not a readable training state" in p.stderr.strip().splitlines()[-1]


def test_fid_without_its_extra_or_weights_is_refused_before_any_work(tmp_path):
    import time

    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"x")
    t0 = time.perf_counter()
    p = run("train", "eval", tmp_path, "--inception-weights", weights)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    line = p.stderr.strip().splitlines()[-1]
    assert line.startswith("oasis-train eval: error:")
    assert "'vision' extra" in line or "no such file" in line
    assert time.perf_counter() - t0 < 60
