"""The model file: save/load round trips, and foreign or damaged files refused with one clear sentence.

Bad files go through the real ``oasis`` command line (``oasis_core.cli.main``), which must exit non-zero, print one
sentence naming the file (and the tensor, where one is at fault) and write nothing.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from oasis_core import cli
from oasis_core import noise as noise_ops
from oasis_core.checkpoint import CheckpointError, load_checkpoint, read_document, save_checkpoint
from oasis_core.config import paper_configs
from oasis_core.nn import Discriminator, Generator, to_official_keys
from oasis_core.synthesizer import Synthesizer


def run_main(argv: list, capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_sentence_error(rc: int, err: str, command: str, *fragments: str) -> None:
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"oasis {command}: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def leftovers(folder: Path, before: set[str]) -> set[str]:
    """Files that appeared in ``folder`` (a half-written output or a temporary file would show up here)."""
    return {p.name for p in folder.iterdir()} - before


# ------------------------------------------------------------------------------------------------ round trips
def _inputs(gcfg, seed: int = 0, size: tuple[int, int] = (64, 96)) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h, w = size
    labels = torch.randint(0, gcfg.semantic_nc, (h // 16, w // 16), generator=g)
    labels = labels.repeat_interleave(16, 0).repeat_interleave(16, 1)  # blocky, like a painted map
    onehot = F.one_hot(labels, gcfg.semantic_nc).permute(2, 0, 1)[None].float().contiguous()
    z = noise_ops.sample_field(gcfg.z_dim, h, w, seed)[None]
    return labels.numpy().astype(np.uint8), onehot, z


def test_round_trip_is_bit_identical(tiny_networks, tiny_configs, tmp_path: Path) -> None:
    g, d = tiny_networks
    gcfg, _, space = tiny_configs
    path = save_checkpoint(tmp_path / "m.safetensors", g, d, label_space=space, natural_size=(64, 96))

    mf = load_checkpoint(path)
    for ours, theirs in ((g.state_dict(), mf.generator_state), (d.state_dict(), mf.discriminator_state)):
        assert list(theirs) == list(ours)
        for k in ours:
            assert torch.equal(theirs[k], ours[k]), k
    assert mf.label_space == space and mf.generator_config == gcfg and mf.natural_size == (64, 96)

    labels, onehot, z = _inputs(gcfg)
    x = torch.rand(1, 3, 64, 128, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        want_image, want_logits = g(onehot, z), d(x)
        # the networks rebuilt from the file compute exactly the same numbers as the ones saved
        assert torch.equal(mf.build_generator()(onehot, z), want_image)
        assert torch.equal(mf.build_discriminator()(x), want_logits)
    # the inference API may take a faster generator path (same maths, float rounding may differ)
    syn = Synthesizer.load(path, device="cpu", dtype="fp32")
    torch.testing.assert_close(syn.generate_tensor(labels, z), want_image, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(syn.discriminate(x), want_logits, rtol=1e-4, atol=1e-5)


def test_fp16_file_loads_and_gives_close_outputs(tiny_networks, tiny_configs, tmp_path: Path) -> None:
    g, d = tiny_networks
    gcfg, _, space = tiny_configs
    p32 = save_checkpoint(tmp_path / "m32.safetensors", g, d, label_space=space)
    p16 = save_checkpoint(tmp_path / "m16.safetensors", g, d, label_space=space, dtype=torch.float16)
    assert p16.stat().st_size < 0.6 * p32.stat().st_size
    assert read_document(p16)["dtype"] == "float16"
    with safe_open(str(p16), framework="pt") as f:
        assert f.get_tensor("generator.fc.weight").dtype == torch.float16

    syn = Synthesizer.load(p16, device="cpu", dtype="fp32")
    labels, onehot, z = _inputs(gcfg)
    with torch.no_grad():
        want = g(onehot, z)
    got = syn.generate_tensor(labels, z)
    diff = (got - want).abs().max().item()
    assert 0 < diff < 2e-2, diff  # rounded weights: close, but not the same numbers


def test_spectral_norm_modules_are_folded_on_save(tiny_configs, tmp_path: Path) -> None:
    """A training generator (spectral-norm parametrizations) saves as plain weights that compute the same image."""
    gcfg, _, space = tiny_configs
    torch.manual_seed(3)
    g = Generator(gcfg, spectral_norm=True)
    g.init_weights(gain=1.0)
    labels, onehot, z = _inputs(gcfg, seed=2)
    with torch.no_grad():
        g.train()
        for _ in range(3):  # power iterations and BN statistics move away from their initial values
            g(onehot, z)
        g.eval()
        want = g(onehot, z)
    path = save_checkpoint(tmp_path / "sn.safetensors", g, label_space=space)
    with safe_open(str(path), framework="pt") as f:
        assert not any("parametrizations" in k for k in f.keys())  # noqa: SIM118 (safe_open is not iterable)
    syn = Synthesizer.load(path, device="cpu", dtype="fp32")
    assert not syn.has_discriminator
    torch.testing.assert_close(syn.generate_tensor(labels, z), want, rtol=1e-4, atol=1e-5)


def test_save_refuses_inconsistent_or_non_finite_models(tiny_networks, tiny_configs, tmp_path: Path) -> None:
    from oasis_core.labels import camvid

    g, d = tiny_networks
    _, _, space = tiny_configs
    with pytest.raises(ValueError, match="12 channels but the generator takes 10"):
        save_checkpoint(tmp_path / "a.safetensors", g, label_space=camvid())
    with torch.no_grad():
        g.conv_img.weight[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="generator.conv_img.weight has non-finite values"):
        save_checkpoint(tmp_path / "b.safetensors", g, d, label_space=space)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------ foreign model files
def _rewrite(src: Path, dest: Path, edit_tensors=None, edit_meta=None) -> Path:
    tensors = load_file(str(src))
    with safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    if edit_tensors:
        edit_tensors(tensors)
    if edit_meta:
        meta = edit_meta(meta)
    save_file(tensors, str(dest), metadata=meta)
    return dest


def _png_renamed(src: Path, dest: Path) -> Path:
    Image.new("RGB", (8, 8), (200, 30, 30)).save(dest, format="PNG")
    return dest


def _truncated(src: Path, dest: Path) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def _without_metadata(src: Path, dest: Path) -> Path:
    save_file(load_file(str(src)), str(dest))
    return dest


def _future_version(src: Path, dest: Path) -> Path:
    return _rewrite(src, dest, edit_meta=lambda m: {**m, "format_version": "99"})


def _missing_tensor(src: Path, dest: Path) -> Path:
    return _rewrite(src, dest, edit_tensors=lambda t: t.pop("generator.body.2.conv_s.weight"))


def _misshaped_tensor(src: Path, dest: Path) -> Path:
    def edit(t: dict) -> None:
        t["generator.body.1.norm_0.mlp_gamma.weight"] = torch.zeros(3, 3, 3, 3)

    return _rewrite(src, dest, edit_tensors=edit)


def _non_finite_tensor(src: Path, dest: Path) -> Path:
    def edit(t: dict) -> None:
        t["discriminator.body_down.3.conv2.1.weight"][0, 0, 1, 1] = float("inf")

    return _rewrite(src, dest, edit_tensors=edit)


def _bad_config(src: Path, dest: Path) -> Path:
    def edit(meta: dict) -> dict:
        doc = json.loads(meta["oasis"])
        doc["generator"]["norm"] = "layer"
        return {**meta, "oasis": json.dumps(doc)}

    return _rewrite(src, dest, edit_meta=edit)


def _bad_prior(edit_prior):
    def make(src: Path, dest: Path) -> Path:
        def edit(meta: dict) -> dict:
            doc = json.loads(meta["oasis"])
            n = doc["generator"]["semantic_nc"]
            doc["segmentation_prior"] = edit_prior({"class_frequencies": [1.0 / n] * n, "strength": 0.5})
            return {**meta, "oasis": json.dumps(doc)}

        return _rewrite(src, dest, edit_meta=edit)

    return make


BAD_MODEL_FILES = {
    "prior_too_short": (
        _bad_prior(lambda p: {**p, "class_frequencies": p["class_frequencies"][:-1]}),
        ["invalid segmentation prior", "class_frequencies"],
    ),
    "prior_negative": (
        _bad_prior(lambda p: {**p, "class_frequencies": [-1.0] + p["class_frequencies"][1:]}),
        ["invalid segmentation prior", "non-negative"],
    ),
    "prior_text_strength": (_bad_prior(lambda p: {**p, "strength": "high"}), ["not a number"]),
    "prior_nan": (
        _bad_prior(lambda p: {**p, "class_frequencies": [float("nan")] + p["class_frequencies"][1:]}),
        ["finite"],
    ),
    "prior_bool": (_bad_prior(lambda p: {**p, "class_frequencies": [True] + p["class_frequencies"][1:]}), ["number"]),
    "prior_nested": (
        _bad_prior(lambda p: {**p, "class_frequencies": [[0.5]] + p["class_frequencies"][1:]}),
        ["number"],
    ),
    "prior_all_zero": (_bad_prior(lambda p: {**p, "class_frequencies": [0] * len(p["class_frequencies"])}), ["zero"]),
    "prior_huge_int": (
        _bad_prior(lambda p: {**p, "class_frequencies": [10**400] + p["class_frequencies"][1:]}),
        ["large"],
    ),
    "prior_sum_overflows": (
        _bad_prior(lambda p: {**p, "class_frequencies": [1e308, 1e308] + p["class_frequencies"][2:]}),
        ["finite"],
    ),
    "prior_strong": (_bad_prior(lambda p: {**p, "strength": 9}), ["between 0 and 4"]),
    "prior_empty_list": (_bad_prior(lambda p: []), ["must be an object"]),
    "png_renamed": (_png_renamed, ["not a model file of this project"]),
    "truncated": (_truncated, []),
    "no_metadata": (_without_metadata, ["not an OASIS Studio model"]),
    "future_version": (_future_version, ["version '99'", "reads version 1"]),
    "missing_tensor": (_missing_tensor, ["generator.body.2.conv_s.weight", "missing"]),
    "misshaped_tensor": (_misshaped_tensor, ["generator.body.1.norm_0.mlp_gamma.weight", "(3, 3, 3, 3)"]),
    "non_finite_tensor": (_non_finite_tensor, ["discriminator.body_down.3.conv2.1.weight", "non-finite"]),
    "bad_config": (_bad_config, ["invalid configuration", "norm"]),
}


@pytest.mark.parametrize("case", sorted(BAD_MODEL_FILES))
def test_foreign_or_damaged_model_file_is_refused(case: str, tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    make, fragments = BAD_MODEL_FILES[case]
    bad = make(tiny_model_file, tmp_path / f"{case}.safetensors")
    np.save(tmp_path / "labels.npy", np.zeros((64, 64), np.uint8))
    before = {p.name for p in tmp_path.iterdir()}

    rc, _, err = run_main(
        ["generate", "--model", bad, "--labels", tmp_path / "labels.npy", "-o", tmp_path / "o.png"], capsys
    )
    assert_one_sentence_error(rc, err, "generate", str(bad), *fragments)
    assert leftovers(tmp_path, before) == set()

    rc, _, err = run_main(["info", bad], capsys)
    assert_one_sentence_error(rc, err, "info", str(bad))
    with pytest.raises(CheckpointError, match=str(bad.name)):
        load_checkpoint(bad)


def test_missing_model_file(tmp_path: Path, capsys) -> None:
    rc, _, err = run_main(["info", tmp_path / "nothing.safetensors"], capsys)
    assert_one_sentence_error(rc, err, "info", "nothing.safetensors", "no such model file")


def test_info_describes_a_model(tiny_model_file: Path, capsys) -> None:
    rc, out, _ = run_main(["info", tiny_model_file], capsys)
    assert rc == 0
    n_params = sum(p.numel() for p in load_checkpoint(tiny_model_file).build_generator().parameters())
    assert f"{n_params:,} parameters" in out and "landscapes: 10 classes" in out and "tiny test model" in out
    rc, out, _ = run_main(["info", "--json", tiny_model_file], capsys)
    assert rc == 0 and json.loads(out)["format"] == {"name": "oasis-studio.model", "version": 1}


def test_info_into_a_closed_pipe_stops_quietly(tiny_model_file: Path) -> None:
    """`oasis info M | head -1`: the reader is gone (closed here before the child, which first imports torch, can
    write a line); no traceback, the SIGPIPE status."""
    import subprocess
    import sys

    code = "import sys; from oasis_core.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered: written at the end
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "info", str(tiny_model_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


# ------------------------------------------------------------------------------------------------ convert-official
class Payload:
    """Any object of a custom class: unpickling it would need to import and run this project's test code."""

    def __init__(self) -> None:
        self.weights = {"fc.weight": torch.zeros(2)}


def _system_call_pickle(marker: Path) -> bytes:
    """A hand-written protocol-0 pickle whose loading would call ``os.system("touch MARKER")`` (never loaded here)."""
    return b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."


def _zip_with_data_pkl(data_pkl: bytes) -> bytes:
    """A file in torch.save's zip layout whose ``data.pkl`` is replaced by ``data_pkl``."""
    buf = io.BytesIO()
    torch.save({"fc.bias": torch.zeros(2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = data_pkl if info.filename.endswith("/data.pkl") else src.read(info)
            dst.writestr(info, data)
    return out.getvalue()


def _convert(capsys, tmp_path: Path, *files: Path) -> tuple[int, str]:
    before = {p.name for p in tmp_path.iterdir()}
    rc, _, err = run_main(
        ["convert-official", *files, "--dataset", "ade20k", "-o", tmp_path / "out.safetensors"], capsys
    )
    assert leftovers(tmp_path, before) == set()
    return rc, err


def test_convert_refuses_a_pickle_of_a_custom_class(tmp_path: Path, capsys) -> None:
    path = tmp_path / "best_EMA.pth"
    torch.save(Payload(), path)
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "without running code", "Payload")
    assert "weights_only" not in err  # torch's advice to load with weights_only=False is not passed on


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_convert_refuses_a_pickle_that_calls_os_system(layout: str, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "executed"
    evil = _system_call_pickle(marker)
    path = tmp_path / "best_EMA.pth"
    path.write_bytes(evil if layout == "legacy" else _zip_with_data_pkl(evil))
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "without running code", "os.system")
    assert not marker.exists()


def test_convert_refuses_a_file_that_is_not_a_state_dict(tmp_path: Path, capsys) -> None:
    path = tmp_path / "best_EMA.pth"
    path.write_bytes(b"GIF89a" + bytes(range(256)) * 4)
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "not a readable PyTorch state dict file")
    torch.save([torch.zeros(2)], path)  # a pickle of plain tensors, but not a dict of them
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "does not hold a state dict (found list)")


def test_convert_never_reads_opt_pkl(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "executed"
    path = tmp_path / "opt.pkl"
    path.write_bytes(_system_call_pickle(marker))
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "opt.pkl")
    assert not marker.exists()


@pytest.fixture(scope="module")
def official_g_layout() -> dict[str, tuple[int, ...]]:
    gcfg, _ = paper_configs("ade20k")
    with torch.device("meta"):
        g = Generator(gcfg)
    return {k: tuple(v.shape) for k, v in to_official_keys(g.state_dict()).items()}


def _cheap_state(layout: dict[str, tuple[int, ...]], value: float = 0.0) -> dict[str, torch.Tensor]:
    """Right keys and shapes, one stored number per tensor (stride-0 views keep the file a few hundred KB)."""
    out = {}
    for k, shape in layout.items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(0)
        else:
            out[k] = torch.full((1,), value).expand(shape) if shape else torch.tensor(value)
    return out


def test_convert_names_missing_and_unexpected_keys(official_g_layout, tmp_path: Path, capsys) -> None:
    state = _cheap_state(official_g_layout)
    del state["body.4.conv_1.bias"], state["body.0.norm_1.mlp_beta.weight"]
    state["body.6.conv_0.bias"] = torch.zeros(8)
    path = tmp_path / "best_EMA.pth"
    torch.save(state, path)
    assert path.stat().st_size < 2_000_000
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(
        rc, err, "convert-official", str(path), "missing 2 keys", "body.4.conv_1.bias",
        "body.0.norm_1.mlp_beta.weight", "unexpected 1 keys", "body.6.conv_0.bias",
    )  # fmt: skip


def test_convert_names_a_misshaped_tensor(official_g_layout, tmp_path: Path, capsys) -> None:
    state = _cheap_state(official_g_layout)
    state["fc.weight"] = torch.zeros(1).expand(1024, 214, 3, 3)  # a label space one class short
    path = tmp_path / "best_EMA.pth"
    torch.save(state, path)
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "fc.weight", "(1024, 214, 3, 3)")


def test_convert_names_a_non_finite_tensor(official_g_layout, tmp_path: Path, capsys) -> None:
    state = _cheap_state(official_g_layout)
    state["body.5.norm_s.mlp_gamma.bias"] = torch.full((1,), float("nan")).expand(128)
    path = tmp_path / "best_EMA.pth"
    torch.save(state, path)
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "body.5.norm_s.mlp_gamma.bias", "non-finite")


def test_convert_refuses_a_discriminator_given_as_generator(tmp_path: Path, capsys) -> None:
    _, dcfg = paper_configs("ade20k")
    with torch.device("meta"):
        d = Discriminator(dcfg)
    state = _cheap_state({k: tuple(v.shape) for k, v in to_official_keys(d.state_dict()).items()})
    path = tmp_path / "best_D.pth"
    torch.save(state, path)
    rc, err = _convert(capsys, tmp_path, path)
    assert_one_sentence_error(rc, err, "convert-official", str(path), "not an official OASIS generator")


def test_convert_refuses_our_own_model_file(tiny_model_file: Path, tmp_path: Path, capsys) -> None:
    rc, err = _convert(capsys, tmp_path, tiny_model_file)
    assert_one_sentence_error(rc, err, "convert-official", str(tiny_model_file))
    assert os.path.exists(tiny_model_file)
