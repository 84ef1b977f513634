"""Growing a generator's block widths from a smaller model's weights (``oasis-train fit --g-multipliers`` with
``--init-from``): the grown network starts out computing what the small one computed."""

from __future__ import annotations

import pytest
import torch

from oasis_core.config import GeneratorConfig
from oasis_core.nn import Generator, fold_spectral_norm
from train.loop import TrainingError, grow_plain_state, load_plain_weights, plain_shapes


def _trained_like(cfg: GeneratorConfig, seed: int) -> Generator:
    torch.manual_seed(seed)
    g = Generator(cfg)
    g.init_weights(1.0)
    with torch.no_grad():  # BN statistics that are not the identity, as after training
        for name, buf in g.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.3)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
    return g.eval()


def test_a_warm_start_names_the_layers_whose_folded_norm_it_changes():
    """An EMA generator's folded weights can have spectral norm over 1 (its power-iteration vectors are averaged
    with the weights); a spectral-normed layer cannot hold that, so loading normalises them and says which."""
    cfg = GeneratorConfig(semantic_nc=6, ch=4, spade_hidden=8, z_dim=8)
    plain = fold_spectral_norm(_trained_like(cfg, 0).state_dict())
    g = Generator(cfg).eval()
    load_plain_weights(g, plain)  # converged vectors, as after training: folded again, every weight has norm 1
    plain = fold_spectral_norm(g.state_dict())
    assert load_plain_weights(Generator(cfg).eval(), plain) == []
    hot = dict(plain)
    hot["body.1.conv_1.weight"] = plain["body.1.conv_1.weight"] * 3.0
    off = load_plain_weights(Generator(cfg).eval(), hot)
    assert [name for name, _ in off] == ["body.1.conv_1"] and off[0][1] == pytest.approx(3.0, rel=0.01)


def test_a_widened_generator_starts_from_the_same_function():
    small_cfg = GeneratorConfig(semantic_nc=6, ch=4, spade_hidden=8, z_dim=8)
    wide_cfg = GeneratorConfig(semantic_nc=6, ch=4, spade_hidden=8, z_dim=8, multipliers=(16, 16, 16, 8, 4, 3, 2))
    plain = fold_spectral_norm(_trained_like(small_cfg, 0).state_dict())  # what a model file holds
    small = Generator(small_cfg).eval()
    load_plain_weights(small, plain)  # the small model as a warm start loads it
    wide = Generator(wide_cfg).eval()
    grown = grow_plain_state(plain, plain_shapes(wide), seed=1)
    load_plain_weights(wide, grown)
    torch.manual_seed(3)
    labels = torch.randint(0, 6, (1, 64, 64))
    onehot = torch.nn.functional.one_hot(labels, 6).permute(0, 3, 1, 2).float()
    z = torch.randn(1, 8, 1, 1).expand(1, 8, 64, 64).contiguous()
    with torch.no_grad():
        a, b = small(onehot, z), wide(onehot, z)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in small.parameters())
    assert (a - b).abs().max() < 0.02, float((a - b).abs().max())  # spectral norm moves a little, nothing else
    other = Generator(wide_cfg).eval()
    with torch.no_grad():
        assert (other(onehot, z) - a).abs().max() > 0.1, "a fresh wide generator computes something else"


def test_widening_refuses_to_shrink():
    plain = {"w.weight": torch.zeros(4, 4, 3, 3)}
    with pytest.raises(TrainingError, match="cannot widen"):
        grow_plain_state(plain, {"w.weight": (2, 4, 3, 3)})


def test_bilinear_upsampling_is_a_generator_option_that_model_files_and_the_fast_path_carry(tmp_path):
    """``--g-upsample bilinear`` (an ablation): the same weights compute another image; the config round-trips
    through a model file (and a nearest model's file is as before); the Synthesizer's fast path makes the eager
    generator's image."""
    from oasis_core.checkpoint import load_checkpoint, save_checkpoint
    from oasis_core.labels import get
    from oasis_core.noise import NoiseField
    from oasis_core.synthesizer import Synthesizer

    with pytest.raises(ValueError, match="upsample"):
        GeneratorConfig(semantic_nc=6, upsample="bicubic")
    near_cfg = GeneratorConfig(semantic_nc=10, ch=4, spade_hidden=8, z_dim=8)
    bil_cfg = GeneratorConfig(semantic_nc=10, ch=4, spade_hidden=8, z_dim=8, upsample="bilinear")
    assert "upsample" not in near_cfg.to_dict() and GeneratorConfig.from_dict(bil_cfg.to_dict()) == bil_cfg
    near = _trained_like(near_cfg, 0)
    bil = Generator(bil_cfg).eval()
    bil.load_state_dict(near.state_dict())
    torch.manual_seed(3)
    labels = torch.randint(0, 10, (1, 64, 64))
    onehot = torch.nn.functional.one_hot(labels, 10).permute(0, 3, 1, 2).float()
    z = torch.randn(1, 8, 1, 1).expand(1, 8, 64, 64).contiguous()
    with torch.no_grad():
        assert (near(onehot, z) - bil(onehot, z)).abs().max() > 0.05

    path = save_checkpoint(tmp_path / "bilinear.safetensors", bil, None, label_space=get("landscapes"), name="b")
    assert load_checkpoint(path).generator_config.upsample == "bilinear"
    syn = Synthesizer.load(path, "cpu", "fp32")
    assert syn.fast_generator is not None
    field = NoiseField.sample(8, 64, 64, 1)
    fast = syn.generate_tensor(labels[0].numpy().astype("uint8"), field)
    with torch.no_grad():
        want = bil(onehot, field.dense()[None])
    assert (fast - want).abs().max() < 1e-3


def test_a_warm_start_adds_grain_with_zero_weights_and_a_resume_keeps_the_choice(tmp_path):
    """``--g-grain 2 --init-from`` a file without grain: the run's grain weights start at zero, so its generator
    computes the file's images; its state then refuses a resume that drops the option."""
    from data_helpers import make_landscapes_folder

    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.noise import NoiseField
    from train import distributed as du
    from train.config import make_config
    from train.data import dataset_factory, default_label_space
    from train.loop import Run

    root = make_landscapes_folder(tmp_path / "data", train=4, val=2)
    space = default_label_space("landscapes", root)
    info = du.init("cpu")

    def make(grain: int, name: str) -> Run:
        cfg = make_config("tiny", dataset="landscapes", data=str(root), run_dir=str(tmp_path / name), size=(64, 64),
                          batch=2, workers=0, precision="fp32", g_upsample="bilinear", g_grain=grain)  # fmt: skip
        return Run(cfg, info, dataset_factory(cfg, space), space)

    plain = make(0, "plain")
    src = _trained_like(plain.g_plain.config, 0)
    path = save_checkpoint(tmp_path / "plain.safetensors", src, None, label_space=space, name="plain")
    run = make(2, "grain")
    run.init_from(path)
    grains = {k: v for k, v in run.ema.state_dict().items() if k.endswith("grain_weight")}
    assert len(grains) == 2 and all(not v.any() for v in grains.values())
    labels = torch.randint(0, space.num_channels, (1, 64, 64))
    onehot = torch.nn.functional.one_hot(labels, space.num_channels).permute(0, 3, 1, 2).float()
    z = NoiseField.sample(plain.cfg.z_dim, 64, 64, 1).dense()[None]
    with torch.no_grad():
        want = src(onehot, z)
        got = run.ema.eval()(onehot, z)
    assert (got - want).abs().max() < 0.02  # spectral norm moves a little, the zero grain nothing
    # the training step's grain, from the CPU noise at hand, is the one the generator derives from its input
    with torch.no_grad():
        for blk in run.g_plain.body:
            if blk.grain_weight is not None:
                blk.grain_weight.fill_(0.5)
    labels2 = torch.randint(0, space.num_channels, (2, 64, 64))
    vectors, region = run.noise_codes(2, 64, 64, step=3, labels=labels2)
    seg, none, grain = run.g_inputs(labels2, vectors, region)
    assert none is None and grain.shape == (2, 1, 64, 64)
    g = run.g_plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(g(seg, None, grain), g(seg))
    state = run.state_dict()
    with pytest.raises(TrainingError, match="g_grain"):
        make(0, "again").load_state_dict(state)
    # --g-grain-lr: the grain weights in a parameter group of their own, at that multiple of the rate
    cfg = make_config("tiny", dataset="landscapes", data=str(root), run_dir=str(tmp_path / "fast"), size=(64, 64),
                      batch=2, workers=0, precision="fp32", g_upsample="bilinear", g_grain=2,
                      g_grain_lr=10.0)  # fmt: skip
    fast = Run(cfg, info, dataset_factory(cfg, space), space)
    groups = fast.opt_g.param_groups
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(10 * groups[0]["lr"])
    assert [p.numel() for p in groups[1]["params"]] == [v.numel() for v in grains.values()]
    assert len(run.opt_g.param_groups) == 1
    # a resume may change the rate: every parameter keeps its Adam moments in the new grouping, and back
    run.train_step(*next(run.loader()))
    state = run.state_dict()
    fast.load_state_dict(state)
    moments = lambda opt: {id(p): opt.state[p]["exp_avg"] for g in opt.param_groups for p in g["params"]}  # noqa: E731
    by_name = lambda r, opt: {n: moments(opt)[id(p)] for n, p in r.g_plain.named_parameters()}  # noqa: E731
    want = by_name(run, run.opt_g)
    got = by_name(fast, fast.opt_g)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert fast.opt_g.param_groups[1]["lr"] == pytest.approx(10 * fast.opt_g.param_groups[0]["lr"])
    back = make(2, "back")
    back.load_state_dict(fast.state_dict())
    assert all(torch.equal(want[k], v) for k, v in by_name(back, back.opt_g).items())


def test_output_grain_added_by_a_warm_start_or_a_resume_starts_at_zero_and_is_calibrated(tmp_path):
    """``--g-grain-out``: a warm start from a file without it, or a resume of a run without it, begins with zero
    amplitudes (the same images) and keeps every parameter's Adam moments; a resume that drops the option is
    refused. The training generator's amplitudes are re-estimated on training crops without moving its BN
    statistics, and the evaluated (exported) copy's at the natural size, leaving the run's EMA as it was."""
    from data_helpers import make_landscapes_folder

    from oasis_core.checkpoint import save_checkpoint
    from oasis_core.noise import NoiseField
    from train import distributed as du
    from train.config import make_config
    from train.data import dataset_factory, default_label_space
    from train.loop import Run

    root = make_landscapes_folder(tmp_path / "data", train=4, val=2)
    space = default_label_space("landscapes", root)
    info = du.init("cpu")

    def make(out: bool, name: str) -> Run:
        cfg = make_config("tiny", dataset="landscapes", data=str(root), run_dir=str(tmp_path / name), size=(64, 64),
                          batch=2, workers=0, precision="fp32", g_upsample="bilinear", g_grain=1,
                          g_grain_out=out)  # fmt: skip
        return Run(cfg, info, dataset_factory(cfg, space), space)

    plain = make(False, "plain")
    src = _trained_like(plain.g_plain.config, 0)
    path = save_checkpoint(tmp_path / "plain.safetensors", src, None, label_space=space, name="plain")
    warm = make(True, "warm")
    warm.init_from(path)
    assert not warm.ema.grain_rgb.any() and not warm.g_plain.grain_rgb.any()
    labels = torch.randint(0, space.num_channels, (1, 64, 64))
    onehot = torch.nn.functional.one_hot(labels, space.num_channels).permute(0, 3, 1, 2).float()
    z = NoiseField.sample(plain.cfg.z_dim, 64, 64, 1).dense()[None]
    plain.init_from(path)
    with torch.no_grad():
        torch.testing.assert_close(warm.ema.eval()(onehot, z), plain.ema.eval()(onehot, z))
    # the training step's grain has the four channels the generator derives from its input
    vectors, region = warm.noise_codes(2, 64, 64, step=3, labels=labels.expand(2, -1, -1))
    _, _, grain = warm.g_inputs(labels.expand(2, -1, -1), vectors, region)
    assert grain.shape == (2, 4, 64, 64)

    # a resume adds it: same images, every parameter's moments kept
    plain.train_step(*next(plain.loader()))
    added = make(True, "added")
    added.load_state_dict(plain.state_dict())
    assert added.step == plain.step and not added.g_plain.grain_rgb.any()
    with torch.no_grad():
        torch.testing.assert_close(added.ema.eval()(onehot, z), plain.ema.eval()(onehot, z))
    moments = lambda opt: {id(p): opt.state[p]["exp_avg"] for g in opt.param_groups for p in g["params"]}  # noqa: E731
    by_name = lambda r: {n: moments(r.opt_g)[id(p)] for n, p in r.g_plain.named_parameters()}  # noqa: E731
    want, got = by_name(plain), by_name(added)
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)

    # calibration: the training generator's amplitudes from crops, its BN statistics untouched
    bn = {k: v.clone() for k, v in added.g_plain.state_dict().items() if "running" in k}
    amp = added.calibrate_grain()
    assert amp.shape == (space.num_channels, 3) and torch.equal(added.g_plain.grain_rgb, amp)
    assert all(torch.equal(v, added.g_plain.state_dict()[k]) for k, v in bn.items())
    again = added.calibrate_grain()
    assert torch.equal(amp, again)  # deterministic: the same images, the same noise
    ema_before = added.ema.grain_rgb.clone()
    g = added.ema_for_eval(bn_batches=2)
    assert torch.equal(added.ema.grain_rgb, ema_before)
    assert g.grain_rgb.shape == (space.num_channels, 3) and bool((g.grain_rgb >= 0).all())
    with pytest.raises(TrainingError, match="--g-grain-out"):
        make(False, "dropped").load_state_dict(added.state_dict())
    resumed = make(True, "again")
    resumed.load_state_dict(added.state_dict())
    assert torch.equal(resumed.g_plain.grain_rgb, added.g_plain.grain_rgb)

    # the estimate is the configured one: the images' pixel noise by default, all the missing energy on request
    import copy

    from train.grain import calibrate_output_grain
    from train.loop import GRAIN_BATCHES

    assert added.cfg.g_grain_fit == "noise"
    added.cfg = added.cfg.replace(g_grain_fit="energy")
    energy = added.calibrate_grain()
    twin = copy.deepcopy(added.g_plain).train()
    want = calibrate_output_grain(twin, added.grain_batches(GRAIN_BATCHES, full_size=False), space.dont_care, "energy")
    assert torch.equal(energy, want) and not torch.equal(energy, amp)


def test_the_evaluated_and_exported_ema_has_exact_spectral_norms_and_warm_starts_unchanged(tmp_path):
    """The EMA averages the power-iteration vectors with the weights, and averaged vectors misjudge the norm; the
    copy that is evaluated and exported gets exact vectors, so each folded weight has norm 1 (as in the trained
    network) and a warm start from the exported file computes the same images. The run's EMA is left as it was."""
    from data_helpers import make_landscapes_folder

    from oasis_core.checkpoint import save_checkpoint
    from train import distributed as du
    from train.config import make_config
    from train.data import dataset_factory, default_label_space
    from train.loop import Run

    root = make_landscapes_folder(tmp_path / "data", train=4, val=2)
    space = default_label_space("landscapes", root)
    info = du.init("cpu")

    def make(name: str) -> Run:
        cfg = make_config("tiny", dataset="landscapes", data=str(root), run_dir=str(tmp_path / name), size=(64, 64),
                          batch=2, workers=0, precision="fp32")  # fmt: skip
        return Run(cfg, info, dataset_factory(cfg, space), space)

    run = make("run")
    gen = torch.Generator().manual_seed(5)
    vectors = {}
    with torch.no_grad():  # vectors as an EMA leaves them: shrunk and turned away from the weight's
        for name, buf in run.ema.named_buffers():
            if name.endswith(("._u", "._v")):
                buf.mul_(0.3).add_(0.2 * torch.randn(buf.shape, generator=gen))
                vectors[name] = buf.clone()
    g = run.ema_for_eval(bn_batches=1)
    plain = fold_spectral_norm(g.state_dict())
    norms = [torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2) for k, w in plain.items()
             if k.endswith(".weight") and w.dim() == 4 and k.replace(".weight", ".parametrizations.weight.original")
             in g.state_dict()]  # fmt: skip
    assert len(norms) >= 6 and all(abs(float(n) - 1) < 1e-3 for n in norms), [round(float(n), 3) for n in norms]
    assert all(torch.equal(run.ema.state_dict()[k], v) for k, v in vectors.items())  # the run's EMA untouched
    path = save_checkpoint(tmp_path / "g.safetensors", g, None, label_space=space, name="g")
    warm = make("warm")
    warm.init_from(path)
    assert load_plain_weights(Generator(g.config).eval(), plain) == []
    labels = torch.randint(0, space.num_channels, (1, 64, 64))
    onehot = torch.nn.functional.one_hot(labels, space.num_channels).permute(0, 3, 1, 2).float()
    z = torch.randn(1, g.config.z_dim, 1, 1).expand(-1, -1, 64, 64).contiguous()
    with torch.no_grad():
        torch.testing.assert_close(warm.ema.eval()(onehot, z), g.eval()(onehot, z), atol=2e-3, rtol=0)
