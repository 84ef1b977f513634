"""The ``oasis`` command line: generate and segment, and bad inputs refused with one sentence and nothing written.

Most cases call ``oasis_core.cli.main`` in-process (the real command, without paying a fresh torch import each
time); one case runs ``python -m oasis_core.cli`` to check the exit status of a real process.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from oasis_core import cli
from oasis_core.imageio import ImageReadError, read_label_values, read_rgb
from oasis_core.labels import landscapes
from oasis_core.synthesizer import Synthesizer

REPO = Path(__file__).resolve().parents[2]


def run_main(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_refused(rc: int, err: str, command: str, *fragments: str) -> None:
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"oasis {command}: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def scene(h: int, w: int) -> np.ndarray:
    lab = np.zeros((h, w), np.uint8)
    lab[h // 2 :, :] = 6
    lab[h * 3 // 4 :, w // 4 : w * 3 // 4] = 5
    return lab


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height 8-bit gray pixels, followed by a token of pixel data.

    Decoding would need width*height bytes; the file itself is under a kilobyte.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # the first four rows, all zero
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------------ generate
def test_generate_from_png_and_npy_labels(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    lab = scene(64, 96)
    Image.fromarray(lab, mode="L").save(tmp_path / "labels.png")
    np.save(tmp_path / "labels.npy", lab)
    rc, out, _ = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.png", "--seed", 3, "-o",
         tmp_path / "a.png", "--raw", tmp_path / "a.npy", "--dtype", "fp32"],
        capsys,
    )  # fmt: skip
    assert rc == 0 and "wrote" in out
    rc, _, _ = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "--seed", 3, "-o",
         tmp_path / "b.png", "--dtype", "fp32"],
        capsys,
    )  # fmt: skip
    assert rc == 0
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert a.shape == (64, 96, 3) and np.array_equal(a, b)
    raw = np.load(tmp_path / "a.npy")
    assert raw.shape == (3, 64, 96) and raw.dtype == np.float32 and np.abs(raw).max() <= 1
    assert np.array_equal(((raw + 1) * 127.5).round().astype(np.uint8).transpose(1, 2, 0), a)
    # the same numbers as the Python API
    syn = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")
    assert np.array_equal(syn.generate(lab, syn.sample_noise(64, 96, seed=3)), a)


def test_generate_with_a_noise_vector_or_field(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    syn = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")
    lab = scene(64, 64)
    np.save(tmp_path / "labels.npy", lab)
    field = np.asarray(syn.reroll(syn.sample_noise(64, 64, seed=1), lab == 5, seed=2))
    np.save(tmp_path / "field.npy", field)
    np.save(tmp_path / "vector.npy", field[:, 0, 0].copy())
    for name, z in (("field", field), ("vector", syn.sample_noise(64, 64, seed=1))):
        rc, _, err = run_main(
            ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "--noise",
             tmp_path / f"{name}.npy", "-o", tmp_path / f"{name}.png", "--dtype", "fp32"],
            capsys,
        )  # fmt: skip
        assert rc == 0, err
        assert np.array_equal(np.asarray(Image.open(tmp_path / f"{name}.png")), syn.generate(lab, z))


def test_generate_resizes_with_size(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "labels.npy", scene(40, 50))
    rc, _, err = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "--size", "64x128", "-o",
         tmp_path / "o.png"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    assert Image.open(tmp_path / "o.png").size == (128, 64)


def test_label_ids_outside_the_model_are_refused(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    lab = scene(64, 64)
    lab[3, 3], lab[40, 7] = 17, 200
    Image.fromarray(lab, mode="L").save(tmp_path / "labels.png")
    before = files_in(tmp_path)
    rc, _, err = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.png", "-o", tmp_path / "o.png",
         "--raw", tmp_path / "o.npy"],
        capsys,
    )  # fmt: skip
    assert_refused(rc, err, "generate", "labels.png", "17, 200", "'landscapes'", "valid values: 0..9")
    assert files_in(tmp_path) == before


def test_label_error_exits_non_zero_from_a_real_process(tiny_model_file: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", np.full((64, 64), 99, np.uint8))
    cmd = [sys.executable, "-m", "oasis_core.cli", "generate", "--model", str(tiny_model_file), "--labels",
           str(tmp_path / "labels.npy"), "-o", str(tmp_path / "o.png")]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "label values 99" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("size", [(30000, 30000), (12000, 12000)])
def test_decompression_bomb_is_refused_without_decoding(
    size: tuple[int, int], tiny_model_file: Path, tmp_path: Path, capsys
) -> None:
    bomb = bomb_png(tmp_path / "bomb.png", *size)
    assert bomb.stat().st_size < 2000
    before = files_in(tmp_path)
    start = time.perf_counter()
    rc, _, err = run_main(["generate", "--model", tiny_model_file, "--labels", bomb, "-o", tmp_path / "o.png"], capsys)
    assert_refused(rc, err, "generate", "bomb.png")
    assert "decompression bomb" in err or "too large" in err
    rc, _, err = run_main(["segment", "--model", tiny_model_file, bomb, "-o", tmp_path / "s.png"], capsys)
    assert_refused(rc, err, "segment", "bomb.png")
    assert time.perf_counter() - start < 10  # decoding 144-900 MP would take far longer (and that much memory)
    assert files_in(tmp_path) == before


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (200, 100)).save(path)
    with pytest.raises(ImageReadError, match=r"big\.png is 200x100 pixels, more than the 10,000"):
        read_rgb(path, max_pixels=10_000)
    with pytest.raises(ImageReadError, match="big.png"):
        read_label_values(path, landscapes(), max_pixels=10_000)
    assert read_rgb(path).shape == (100, 200, 3)


def test_size_the_generator_cannot_take_is_refused_with_no_pad(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "labels.npy", scene(50, 70))
    before = files_in(tmp_path)
    rc, _, err = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "--no-pad", "-o",
         tmp_path / "o.png"],
        capsys,
    )  # fmt: skip
    assert_refused(rc, err, "generate", "multiples of 32", "50x70")
    assert files_in(tmp_path) == before


def test_pad_generates_at_the_original_size(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    lab = scene(50, 70)
    np.save(tmp_path / "labels.npy", lab)
    syn = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")
    np.save(tmp_path / "z.npy", syn.sample_noise(50, 70, seed=4))
    # padding is the default (--pad, the old opt-in, still accepted)
    for extra in ([], ["--pad"], ["--noise", tmp_path / "z.npy"]):
        rc, _, err = run_main(
            ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "-o",
             tmp_path / "o.png", "--raw", tmp_path / "o.npy", "--dtype", "fp32", *extra],
            capsys,
        )  # fmt: skip
        assert rc == 0, err
        assert Image.open(tmp_path / "o.png").size == (70, 50)
        assert np.load(tmp_path / "o.npy").shape == (3, 50, 70)
    # the padded result is the top-left crop of generating on the edge-padded map
    padded = np.pad(lab, ((0, 14), (0, 26)), mode="edge")
    full = syn.generate(padded, syn.sample_noise(64, 96, seed=4))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o.png")), full[:50, :70])


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: np.zeros((16, 32, 32), np.float32), "noise must be (16,) or (16, 64, 64)"),
        (lambda: np.full((16,), np.nan, np.float32), "finite floating-point"),
        (lambda: np.zeros((16,), np.int64), "finite floating-point"),
    ],
)
def test_bad_noise_files_are_refused(make, fragment: str, tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "labels.npy", scene(64, 64))
    np.save(tmp_path / "z.npy", make())
    before = files_in(tmp_path)
    rc, _, err = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "labels.npy", "--noise", tmp_path / "z.npy",
         "-o", tmp_path / "o.png"],
        capsys,
    )  # fmt: skip
    assert_refused(rc, err, "generate", "z.npy", fragment)
    assert files_in(tmp_path) == before


def test_bad_label_files_are_refused(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "cube.npy", np.zeros((2, 64, 64), np.uint8))
    (tmp_path / "text.png").write_text("not an image")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "colour.png")
    cases = {"cube.npy": "2-D", "text.png": "not a readable image", "missing.png": "no such file"}
    for name, fragment in cases.items():
        before = files_in(tmp_path)
        rc, _, err = run_main(
            ["generate", "--model", tiny_model_file, "--labels", tmp_path / name, "-o", tmp_path / "o.png"], capsys
        )
        assert_refused(rc, err, "generate", name, fragment)
        assert files_in(tmp_path) == before
    # a colour image is mapped to the nearest class colours, with a warning
    rc, _, err = run_main(
        ["generate", "--model", tiny_model_file, "--labels", tmp_path / "colour.png", "-o", tmp_path / "o.png"], capsys
    )
    assert rc == 0 and "warning: colour.png is a colour image" in err


# ------------------------------------------------------------------------------------------------ segment
def test_segment_a_photo_and_an_exact_array(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    syn = Synthesizer.load(tiny_model_file, device="cpu", dtype="fp32")
    photo = syn.generate(scene(64, 64), syn.sample_noise(64, 64, seed=2))
    Image.fromarray(photo).save(tmp_path / "photo.png")
    rc, _, err = run_main(
        ["segment", "--model", tiny_model_file, tmp_path / "photo.png", "-o", tmp_path / "seg.png", "--confidence",
         tmp_path / "conf.png"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    seg = Image.open(tmp_path / "seg.png")
    assert seg.mode == "P" and seg.size == (64, 64)
    assert set(np.unique(np.asarray(seg))) <= set(range(10))
    assert Image.open(tmp_path / "conf.png").mode == "L"

    x = (photo.astype(np.float32) / 127.5 - 1).transpose(2, 0, 1).copy()
    np.save(tmp_path / "x.npy", x)
    rc, _, err = run_main(
        ["segment", "--model", tiny_model_file, tmp_path / "x.npy", "-o", tmp_path / "seg2.png", "--logits",
         tmp_path / "lg.npy", "--dtype", "fp32"],
        capsys,
    )  # fmt: skip
    assert rc == 0, err
    logits = np.load(tmp_path / "lg.npy")
    assert logits.shape == (11, 64, 64) and np.array_equal(logits, syn.discriminate(x)[0].numpy())


def test_segment_bad_inputs(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "hwc.npy", np.zeros((64, 64, 3), np.float32))
    np.save(tmp_path / "odd.npy", np.zeros((3, 50, 64), np.float32))
    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    cases = [
        (["hwc.npy"], "expected a (3, H, W) float array"),
        (["odd.npy"], "multiples of 64"),
        (["photo.png", "--logits", tmp_path / "lg.npy"], "--logits needs the exact numeric path"),
    ]
    for args, fragment in cases:
        before = files_in(tmp_path)
        rc, _, err = run_main(
            ["segment", "--model", tiny_model_file, tmp_path / args[0], *args[1:], "-o", tmp_path / "s.png"], capsys
        )
        assert_refused(rc, err, "segment", fragment)
        assert files_in(tmp_path) == before


def test_segment_needs_a_discriminator(tiny_networks, tiny_configs, tmp_path: Path, capsys) -> None:
    from oasis_core.checkpoint import save_checkpoint

    g, _ = tiny_networks
    model = save_checkpoint(tmp_path / "g_only.safetensors", g, label_space=tiny_configs[2])
    np.save(tmp_path / "x.npy", np.zeros((3, 64, 64), np.float32))
    rc, _, err = run_main(["segment", "--model", model, tmp_path / "x.npy", "-o", tmp_path / "s.png"], capsys)
    assert_refused(rc, err, "segment", "g_only.safetensors", "no discriminator")
    assert not (tmp_path / "s.png").exists()
