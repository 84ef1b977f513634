"""The training speed-ups compute the same function as the literal networks: values and gradients.

- the discriminator's resampling folded into stride-2 (transposed) convolutions (``DResBlock.fast_resample``);
- the generator's SPADEs once per distinct label/noise neighbourhood (``Generator(SegCodes)``);
- a training step with both against the previous loop, from the same start.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from oasis_core.config import DiscriminatorConfig, GeneratorConfig
from oasis_core.nn import Discriminator, Generator
from oasis_core.nn.discriminator import DResBlock, conv3x3_avgpool, upsample_conv3x3
from oasis_core.nn.grouped import LevelGroups, LevelSeg, SegCodes, _compress
from oasis_core.nn.spectral import init_unit_gain


def _set_fast(d: Discriminator, on: bool) -> None:
    for m in d.modules():
        if isinstance(m, DResBlock):
            m.fast_resample = on


def test_upsample_conv_equals_upsample_then_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 3, padding=1)
    x = torch.randn(2, 6, 7, 9, requires_grad=True)  # odd, non-square sizes: every border case
    ref = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    g = torch.randn_like(ref)
    gx_ref, gw_ref, gb_ref = torch.autograd.grad(ref, (x, conv.weight, conv.bias), g)
    out = upsample_conv3x3(x, conv)
    assert out.shape == ref.shape == (2, 5, 14, 18)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out, (x, conv.weight, conv.bias), g), (gx_ref, gw_ref, gb_ref)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_conv_avgpool_equals_conv_then_pool():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6, 5, 3, padding=1)
    x = torch.randn(2, 6, 14, 18, requires_grad=True)
    ref = F.avg_pool2d(conv(x), 2)
    g = torch.randn_like(ref)
    out = conv3x3_avgpool(x, conv)
    assert out.shape == ref.shape == (2, 5, 7, 9)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(out, (x, conv.weight, conv.bias), g),
                    torch.autograd.grad(ref, (x, conv.weight, conv.bias), g)):  # fmt: skip
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("channels_last", [False, True])
def test_discriminator_fast_resample_same_outputs_and_gradients(channels_last):
    torch.manual_seed(1)
    d = Discriminator(DiscriminatorConfig(semantic_nc=5, channels=(3, 8, 8, 16, 16, 32, 32)))
    d.init_weights(1.0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    d = d.to(memory_format=fmt)
    x = torch.randn(3, 3, 64, 128).contiguous(memory_format=fmt)
    outs, grads = [], []
    for fast in (False, True):
        dd = copy.deepcopy(d)  # the same spectral-norm vectors before the power iteration of this forward
        _set_fast(dd, fast)
        out = dd(x)
        outs.append(out)
        grads.append(torch.autograd.grad((out * out).sum(), list(dd.parameters())))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-4)
    for a, b in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, b, atol=1e-4 * float(b.abs().max()) + 1e-6, rtol=1e-3)
    assert all(m.fast_resample for m in Discriminator(d.config).modules() if isinstance(m, DResBlock))  # default


def _scene(batch: int, size: int, classes: int, z_dim: int, seed: int) -> SegCodes:
    """Blocky label maps (large regions and a few small ones) with a second noise vector in an ellipse."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, classes, (batch, size // 32, size // 32), generator=g)
    labels = cells.repeat_interleave(32, 1).repeat_interleave(32, 2)
    labels[:, size // 3 : size // 3 + 5, size // 4 : size // 2] = classes - 1  # a thin strip
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    region = ((((yy - size / 2) / (size / 4)) ** 2 + ((xx - size / 3) / (size / 5)) ** 2) <= 1).long()
    region = region.expand(batch, -1, -1).clone()
    region[0] = 0  # one image with a single noise vector
    vectors = torch.randn(batch, 2, z_dim, generator=g)
    codes = torch.cat((vectors.repeat_interleave(classes, 1), torch.eye(classes).repeat(2, 1).expand(batch, -1, -1)), 2)
    return SegCodes(region * classes + labels, codes)


@pytest.mark.parametrize("channels_last", [False, True])
def test_generator_seg_codes_same_outputs_and_gradients(channels_last):
    classes, z_dim, size = 6, 8, 128
    gen = Generator(GeneratorConfig(semantic_nc=classes, ch=4, spade_hidden=8, z_dim=z_dim))
    init_unit_gain(gen, 3)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    gen = gen.to(memory_format=fmt).train()
    seg = _scene(3, size, classes, z_dim, seed=2)
    dense = seg.dense(memory_format=fmt)
    # the scene exercises both kinds of level: grouped at the large ones, dense at the small ones
    kinds = [LevelSeg(seg, (s, s)).groups is not None for s in (4, 8, 16, 32, 64, 128)]
    assert kinds[0] is False and kinds[-1] is True, kinds
    outs, grads = [], []
    for args in ((dense[:, z_dim:], dense[:, :z_dim]), (seg,)):
        g = copy.deepcopy(gen)  # spectral norm's power iteration: both start from the same vectors
        out = g(*args)
        outs.append(out)
        names, params = zip(*g.named_parameters())
        grads.append(dict(zip(names, torch.autograd.grad(out.square().sum(), params))))
    torch.testing.assert_close(outs[1], outs[0], atol=2e-5, rtol=1e-4)
    # a constant added before a batch norm has no effect: such biases have gradients that are rounding noise
    scale = max(float(r.abs().max()) for r in grads[0].values())
    checked = [n for n, r in grads[0].items() if float(r.abs().max()) > 1e-4 * scale]
    assert len(checked) > 0.75 * len(grads[0])
    for name in checked:
        ref = grads[0][name]
        torch.testing.assert_close(grads[1][name], ref, atol=1e-4 * float(ref.abs().max()), rtol=1e-3, msg=name)


def test_level_groups_count_distinct_neighbourhoods():
    ids = torch.zeros(2, 40, 40, dtype=torch.long)
    ids[1, 10:30, 10:30] = 1  # image 1: a square of code 1
    ids[1, 3, 3] = 1  # and one lone pixel
    groups = LevelGroups(ids, num_codes=2)

    def distinct(k: int) -> int:  # brute force: distinct kxk windows (code 2 outside), per image
        pad = F.pad(ids, (k // 2,) * 4, value=2).float() + 3 * torch.arange(2)[:, None, None]
        windows = F.unfold(pad[:, None], k).transpose(1, 2).reshape(-1, k * k)
        return len(torch.unique(windows, dim=0))

    assert groups.num3 == distinct(3)
    assert groups.num5 == distinct(5)
    assert groups.inverse5.shape == (2, 40, 40)
    assert groups.num5 < 0.2 * groups.pixels
    # pixels with equal 5x5 neighbourhoods share a group; different images never do
    assert groups.inverse5[0, 20, 20] == groups.inverse5[0, 5, 5]
    assert groups.inverse5[0, 20, 20] != groups.inverse5[1, 20, 20]


def test_compress_renumbers_before_overflow():
    g = torch.Generator().manual_seed(0)
    keys = [torch.randint(0, 3, (500,), generator=g) for _ in range(9)]
    radix = 2**40  # forces a renumbering at every step
    inverse, first = _compress(keys, radix)
    rows = torch.stack(keys, 1)
    expected = {tuple(r.tolist()) for r in rows}
    assert len(first) == len(expected)
    for i in range(0, 500, 37):  # elements with equal tuples share an index, and the representative holds it
        assert torch.equal(rows[first[inverse[i]]], rows[i])
    same = (rows[:, None] == rows[None]).all(-1)
    assert torch.equal(same, inverse[:, None] == inverse[None])


def test_training_step_fast_paths_match_previous_loop(tmp_path):
    """One step from the same start: the same losses and nearly the same weights with and without the fast paths
    (mixed noise on, so rerolled regions are part of the codes)."""
    from oasis_core.labels import landscapes
    from train import distributed as du
    from train.config import make_config
    from train.loop import Run

    space = landscapes()
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, space.num_channels, (4, 4, 4), generator=g).repeat_interleave(16, 1)
    labels = labels.repeat_interleave(16, 2)
    image = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    runs = []
    for fast in (False, True):
        cfg = make_config("tiny", dataset="landscapes", data="x", run_dir=str(tmp_path / str(fast)), size=(64, 64),
                          batch=4, workers=0, precision="fp32", mixed_noise=1.0, grouped_spade=fast,
                          fast_resample=fast)  # fmt: skip
        run = Run(cfg, du.DistInfo(), lambda split: [], space)
        runs.append((run, run.train_step(image, labels)))
    (old, m_old), (new, m_new) = runs
    for k in ("g", "d", "d_fake", "d_real"):
        assert m_new[k] == pytest.approx(m_old[k], rel=1e-4, abs=1e-5), k
    for a, b in zip(new.g_plain.parameters(), old.g_plain.parameters()):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
    # the noise field in compact form is exactly the dense one
    vectors, region = new.noise_codes(4, 64, 64, 7, labels=labels)
    dense = new.noise(4, 64, 64, 7, labels=labels)
    assert torch.equal(vectors[torch.arange(4)[:, None, None], region].permute(0, 3, 1, 2), dense)
    assert (region == 1).any()  # mixed noise 1.0: every image got a second region


def test_mixed_noise_with_soft_edges_matches_the_hard_regions(tmp_path):
    """--mixed-noise-feather: the same regions and vectors as hard mixed noise (the same draws), the new vector
    faded in over rings as the app's soft rerolls do; the grouped training step takes the extra vectors."""
    from oasis_core.labels import landscapes
    from oasis_core.noise import blend, ramp_levels
    from train import distributed as du
    from train.config import make_config
    from train.loop import Run

    space = landscapes()
    g = torch.Generator().manual_seed(3)
    labels = torch.randint(0, space.num_channels, (4, 2, 2), generator=g).repeat_interleave(32, 1)
    labels = labels.repeat_interleave(32, 2)
    runs = {}
    for feather in (0, 12):
        cfg = make_config("tiny", dataset="landscapes", data="x", run_dir=str(tmp_path / str(feather)),
                          size=(64, 64), batch=4, workers=0, precision="fp32", mixed_noise=1.0,
                          mixed_noise_feather=feather)  # fmt: skip
        runs[feather] = Run(cfg, du.DistInfo(), lambda split: [], space)
    hard = runs[0].noise_fields(4, 64, 64, 5, labels=labels)
    soft = runs[12].noise_fields(4, 64, 64, 5, labels=labels)
    plain = runs[0].noise_fields(4, 64, 64, 5)  # without labels: the base vectors alone (the same first draws)
    for i in range(4):
        base = plain[i].vectors[0]
        h, s_ = hard[i].dense(), soft[i].dense()
        region_hard = (h != base[:, None, None]).any(0)
        region_soft = (s_ != base[:, None, None]).any(0)
        assert region_hard.any() and torch.equal(region_soft, region_hard)  # the same region from the same draws
        new = h[:, region_hard][:, 0]  # the hard region holds the new vector everywhere
        levels = torch.unique(s_[:, region_soft].t().contiguous().view(torch.int32), dim=0)
        assert levels.shape[0] >= 2  # a ramp, not a hard edge
        steps = ramp_levels(12)  # the app's default ramp: training sees the borders the app's rerolls make
        ramp = {tuple(blend(base, new, f).view(torch.int32).tolist()) for _, f in steps}
        assert {tuple(r) for r in levels.tolist()} <= ramp  # every soft pixel is one step of the ramp
    vectors, region = runs[12].noise_codes(4, 64, 64, 5, labels=labels)
    assert vectors.shape[1] <= 1 + len(steps)
    assert torch.equal(vectors[torch.arange(4)[:, None, None], region].permute(0, 3, 1, 2),
                       torch.stack([f.dense() for f in soft]))  # fmt: skip
    image = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    stats = runs[12].train_step(image, labels)
    assert np.isfinite(stats["g"]) and np.isfinite(stats["d"])


def _tiny_run(tmp_path, name: str, **overrides):
    from oasis_core.labels import landscapes
    from train import distributed as du
    from train.config import make_config
    from train.loop import Run

    space = landscapes()
    cfg = make_config("tiny", dataset="landscapes", data="x", run_dir=str(tmp_path / name), size=(64, 64), batch=2,
                      workers=0, precision="fp32", mixed_noise=0.5, **overrides)  # fmt: skip
    return Run(cfg, du.DistInfo(), lambda split: [], space)


def _scene_batch(seed: int, space_classes: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, space_classes, (2, 4, 4), generator=g).repeat_interleave(16, 1).repeat_interleave(16, 2)
    return torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, labels


def _steps(run, batches) -> list[dict]:
    out = []
    for image, labels in batches:
        out.append(run.train_step(image, labels))
        run.step += 1
    return out


def test_compiled_discriminator_trains_as_eager_and_resumes_exactly(tmp_path):
    """``--compile d`` (the one test that compiles; about a minute on 2 cores): the same losses and weights as the
    eager step within float rounding, and a state saved after step 1 and loaded into a fresh compiled run gives
    bitwise the weights of the uninterrupted compiled run at step 2."""
    import io

    from train.loop import compile_problem

    if compile_problem(torch.device("cpu")):
        pytest.skip(f"torch.compile cannot run here: {compile_problem(torch.device('cpu'))}")
    batches = [_scene_batch(1), _scene_batch(2)]
    eager = _tiny_run(tmp_path, "eager", reuse_fake_logits=False)  # a compiled D is called on the fake again
    compiled = _tiny_run(tmp_path, "compiled", compile="d")
    assert eager.compile() == () and compiled.compile() == ("D",)
    assert compiled.d_plain._compiled_call_impl is not None and compiled.g_plain._compiled_call_impl is None
    m_eager = _steps(eager, batches[:1])
    m_comp = _steps(compiled, batches[:1])
    buf = io.BytesIO()
    torch.save(compiled.state_dict(), buf)
    m_eager += _steps(eager, batches[1:])
    m_comp += _steps(compiled, batches[1:])
    for a, b in zip(m_comp, m_eager):
        for k in ("g", "d", "d_fake", "d_real", "d_labelmix"):
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), k
    # Adam moves a weight by up to ~lr per step whatever its gradient's size, so a gradient near zero that rounds
    # to the other sign can differ by 2 lr per step; nearly every weight must agree far closer than that
    far = total = 0
    for a, b in zip([*compiled.g_plain.parameters(), *compiled.d_plain.parameters()],
                    [*eager.g_plain.parameters(), *eager.d_plain.parameters()]):  # fmt: skip
        torch.testing.assert_close(a, b, atol=4 * compiled.cfg.lr_d, rtol=0)
        far, total = far + int(((a - b).abs() > 1e-5).sum()), total + a.numel()
    assert far <= total // 1000, (far, total)

    resumed = _tiny_run(tmp_path, "resumed", compile="d")
    resumed.compile()
    buf.seek(0)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert resumed.step == 1
    _steps(resumed, batches[1:])
    want, got = compiled.state_dict(), resumed.state_dict()
    for part in ("G", "D", "EMA"):
        for k, v in want[part].items():
            assert torch.equal(got[part][k], v), (part, k)


def test_compile_without_a_compiler_trains_eager_with_one_line(tmp_path, monkeypatch, capsys):
    from torch._inductor import config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", (None, str(tmp_path / "no-such-c++")))
    run = _tiny_run(tmp_path, "nocc", compile="all")
    assert run.compile() == () and run.d_plain._compiled_call_impl is None
    err = capsys.readouterr().err
    assert "--compile all is off: no C++ compiler was found" in err and "training runs eager" in err
    assert len([line for line in err.splitlines() if "compile" in line]) == 1
    (metrics,) = _steps(run, [_scene_batch(3)])
    assert np.isfinite(metrics["g"]) and np.isfinite(metrics["d"])


def _old_reroll_region(labels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The region draw before --mixed-noise-shapes existed (class or ellipse, even odds), kept to pin the stream."""
    h, w = labels.shape
    if float(torch.rand((), generator=g)) < 0.5:
        present = torch.unique(labels)
        return labels == present[int(torch.randint(len(present), (), generator=g))]
    cy, cx = (torch.rand(2, generator=g) * torch.tensor([h, w])).tolist()
    ry, rx = ((0.15 + 0.3 * torch.rand(2, generator=g)) * torch.tensor([h, w]) / 2).tolist()
    yy, xx = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w, dtype=torch.float32)[None, :]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def test_mixed_noise_shapes_add_boxes_and_keep_the_default_draws():
    """--mixed-noise-shapes: boxes are filled rectangles; the default (class, ellipse) draws exactly what runs drew
    before the option (a resumed run keeps its noise); all three shapes come up; an unknown shape is refused."""
    import argparse

    from train.cli import _shapes
    from train.loop import Run

    _, labels = _scene_batch(5)
    labels = labels[0]
    kinds = set()
    for seed in range(40):
        old = _old_reroll_region(labels, torch.Generator().manual_seed(seed))
        assert torch.equal(Run.reroll_region(labels, torch.Generator().manual_seed(seed)), old)
        box = Run.reroll_region(labels, torch.Generator().manual_seed(seed), ("box",))
        ys, xs = box.nonzero().t()
        assert box.any() and int(box.sum()) == (int(ys.max() - ys.min()) + 1) * (int(xs.max() - xs.min()) + 1)
        mask = Run.reroll_region(labels, torch.Generator().manual_seed(seed), ("class", "ellipse", "box"))
        ys, xs = mask.nonzero().t()
        if any(torch.equal(mask, labels == c) for c in torch.unique(labels)):
            kinds.add("class")
        elif int(mask.sum()) == (int(ys.max() - ys.min()) + 1) * (int(xs.max() - xs.min()) + 1):
            kinds.add("box")
        else:
            kinds.add("ellipse")
    assert kinds == {"class", "ellipse", "box"}
    assert _shapes("box, class") == ("box", "class")
    for bad in ("star", "", "box,,circle"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected shapes from class, ellipse, box"):
            _shapes(bad)
    for bad in ((), ("box", "lasso")):  # a config from elsewhere than the CLI
        with pytest.raises(ValueError, match="choose from class, ellipse, box"):
            Run.reroll_region(labels, torch.Generator().manual_seed(0), bad)


def _power_iterations(module: torch.nn.Module, n: int) -> None:
    for m in module.modules():
        if hasattr(m, "n_power_iterations"):
            m.n_power_iterations = n


def test_reused_fake_logits_give_the_same_gradients_as_a_second_d_call(tmp_path):
    """``reuse_fake_logits``: the D step's loss takes D's output on the fake from the G step instead of calling D on
    it again. With spectral norm's power iteration held still (the one thing that differs between two D calls),
    one step gives the same losses and the same gradients to G and to D as the second call, with the diversity term
    and mixed noise on (the two-stage G backward); with it running, the losses still agree closely."""
    image, labels = _scene_batch(4)
    for iterations in (0, 1):
        runs = {}
        for reuse in (False, True):
            run = _tiny_run(tmp_path, f"{reuse}{iterations}", reuse_fake_logits=reuse, lambda_diversity=1.0)
            _power_iterations(run.d_plain, iterations)
            runs[reuse] = (run, run.train_step(image, labels))
        (old, m_old), (new, m_new) = runs[False], runs[True]
        for k in ("g", "d", "d_fake", "d_real", "d_labelmix", "div", "gn_g", "gn_d"):
            assert m_new[k] == pytest.approx(m_old[k], rel=1e-4 if iterations else 1e-5, abs=1e-6), (iterations, k)
        if iterations:
            continue
        for net in ("g_plain", "d_plain"):
            pairs = list(zip(getattr(new, net).parameters(), getattr(old, net).parameters()))
            assert all(a.grad is not None for a, _ in pairs), net
            for a, b in pairs:
                torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gather_rows_backward_sums_like_embedding_and_repeats(dtype):
    """The grouped SPADE's gathers: the same values and table gradient as ``F.embedding`` (rows never gathered get
    zero), the sparse sum built once and reused, and the same bits on a second backward."""
    from oasis_core.nn.grouped import RowSum, gather_rows

    g = torch.Generator().manual_seed(5)
    table = torch.randn(40, 6, generator=g).to(dtype).requires_grad_()
    index = torch.randint(0, 30, (3, 17, 9), generator=g)  # rows 30..39 are never gathered
    grad = torch.randn(3, 17, 9, 6, generator=g).to(dtype)
    rows = RowSum(index, 40)
    out = gather_rows(table, index, rows)
    ref = F.embedding(index, table)
    assert torch.equal(out, ref)
    (got,) = torch.autograd.grad(out, table, grad)
    table64 = table.detach().double().requires_grad_()
    (want,) = torch.autograd.grad(F.embedding(index, table64), table64, grad.double())  # exact sums
    assert got.dtype == dtype and torch.all(got[30:] == 0)
    # summed in float32 whatever the table's dtype: only the final rounding to bf16 is lost
    tol = dict(atol=1e-2, rtol=2**-8) if dtype == torch.bfloat16 else dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.double(), want, **tol)
    matrix = rows.matrix
    threads = torch.get_num_threads()
    try:  # the same bits on another thread count (each row is summed in its own fixed order)
        torch.set_num_threads(1 if threads > 1 else 2)
        (again,) = torch.autograd.grad(gather_rows(table, index, rows), table, grad)
    finally:
        torch.set_num_threads(threads)
    assert rows.matrix is matrix and torch.equal(again, got)
    with torch.no_grad():
        assert torch.equal(gather_rows(table, index, rows), ref)
