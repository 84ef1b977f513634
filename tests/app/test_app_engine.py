"""The engine adapter: model description, worker thread, stale-request dropping, errors."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from app_helpers import make_tiny_model, wait_for  # noqa: E402

from app.doc import NoiseRecipe, RerollRegion  # noqa: E402

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("m") / "tiny.safetensors", space="camvid")


@pytest.fixture
def engine(qapp):
    from app.engine import Engine

    e = Engine()
    events = {"loaded": [], "failed": [], "generated": [], "gen_failed": []}
    e.model_loaded.connect(lambda info, ms: events["loaded"].append(info))
    e.model_failed.connect(lambda path, msg: events["failed"].append(msg))
    e.generated.connect(lambda r: events["generated"].append(r))
    e.generate_failed.connect(lambda s, m: events["gen_failed"].append(m))
    e.events = events
    yield e
    e.shutdown()


def test_describe_gives_the_gui_a_plain_class_list(engine, model_path):
    from oasis_core import labels

    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    info = engine.events["loaded"][0]
    ls = labels.camvid()
    assert [(c.value, c.name, c.rgb) for c in info.classes] == [(v, n, tuple(c)) for v, n, c in ls.paintable()]
    assert info.dont_care_value == 11 and info.eraser_value() == 11
    assert info.natural_size == (64, 64) and info.size_multiple == 32
    assert info.device == "cpu" and info.dtype == "float32" and len(info.model_hash) == 64
    lab = np.zeros((4, 4), np.uint8)
    assert np.array_equal(info.colourize(lab), ls.colourize(lab))


def test_generation_is_reproducible_and_newer_requests_replace_pending_ones(engine, model_path):
    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    labels = np.zeros((64, 64), np.uint8)
    labels[32:] = 3
    mask = np.zeros((64, 64), bool)
    mask[:20, :20] = True
    recipe = NoiseRecipe(64, 64, 5, (RerollRegion.make(mask, 9, 0.5),))
    stamps = [engine.generate(labels, [recipe]) for _ in range(12)]
    assert wait_for(lambda: not engine.busy, 30)
    got = engine.events["generated"]
    assert got[-1].stamp == stamps[-1]
    assert len(got) < len(stamps), "pending requests of the same channel are coalesced"
    first = got[-1].images[0]
    engine.generate(labels, [recipe])
    assert wait_for(lambda: not engine.busy, 30)
    assert engine.events["generated"][-1].images[0].tobytes() == first.tobytes()
    other = NoiseRecipe(64, 64, 6)
    engine.generate(labels, [recipe, other], channel="variants")
    assert wait_for(lambda: not engine.busy, 30)
    res = engine.events["generated"][-1]
    assert res.channel == "variants" and len(res.images) == 2
    assert res.images[0].tobytes() == first.tobytes() and res.images[1].tobytes() != first.tobytes()


def test_cancel_discards_the_running_request(engine, model_path):
    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    labels = np.zeros((512, 512), np.uint8)
    n = len(engine.events["generated"])
    engine.generate(labels, [NoiseRecipe(512, 512, s) for s in range(4)], channel="variants")
    assert wait_for(lambda: engine.busy, 5)
    engine.cancel()
    assert wait_for(lambda: not engine.busy, 60)
    assert len(engine.events["generated"]) == n and not engine.events["gen_failed"]


def test_bad_files_and_bad_labels_give_messages(engine, model_path, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"garbage")
    engine.load_model(bad, "cpu", "fp32")
    assert wait_for(lambda: engine.events["failed"], 30)
    assert "bad.safetensors" in engine.events["failed"][0]
    assert engine.synthesizer is None
    engine.generate(np.zeros((64, 64), np.uint8), [NoiseRecipe(64, 64, 1)])
    assert wait_for(lambda: engine.events["gen_failed"], 30)
    assert "No model" in engine.events["gen_failed"][0]
    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    engine.generate(np.full((64, 64), 99, np.uint8), [NoiseRecipe(64, 64, 1)])
    assert wait_for(lambda: len(engine.events["gen_failed"]) == 2, 30)
    assert "99" in engine.events["gen_failed"][1]


def test_sizes_that_are_not_multiples_are_padded_not_cropped(engine, model_path):
    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    engine.generate(np.zeros((50, 70), np.uint8), [NoiseRecipe(50, 70, 1)])
    assert wait_for(lambda: engine.events["generated"], 30)
    assert engine.events["generated"][-1].images[0].shape == (50, 70, 3)


def test_only_the_engine_imports_torch_and_the_model_parts_of_oasis_core():
    """A plain check beside the import contracts: outside app/engine/ the app imports no torch and only the
    numpy-only modules of oasis_core; the document tier and resources import no Qt."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "app"
    numpy_only = {"oasis_core.labels", "oasis_core.files", "oasis_core.imageio", "oasis_core.memory"}
    files = sorted(root.rglob("*.py"))
    assert {"doc", "engine", "flows", "ui"} <= {f.parent.name for f in files}
    for f in files:
        tree = ast.parse(f.read_text())
        modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        tops = {m.split(".")[0] for m in modules}
        if f.parent.name != "engine":
            assert "torch" not in tops, f
            assert {m for m in modules if m.split(".")[0] == "oasis_core"} <= numpy_only, f
        if f.parent.name == "doc" or f.name == "resources.py":
            assert "PySide6" not in tops, f"{f} must stay Qt-free"
        if f.parent.name == "flows" or f.name == "session.py":  # signals and timers only: no widget, no painting
            assert not {m for m in modules if m.startswith(("PySide6.QtWidgets", "PySide6.QtGui"))}, f


def test_noise_fields_reuse_recipe_prefixes_and_match_a_fresh_computation(model_path):
    """Every stroke regenerates the frame: a scene's rerolled field comes from the cache, a new reroll starts from
    the field before it, an undone reroll finds its shorter recipe; each field equals one built from scratch."""
    import dataclasses

    from app.engine import NoiseFields
    from oasis_core.noise import NoiseField
    from oasis_core.synthesizer import Synthesizer

    syn = Synthesizer.load(model_path, device="cpu", dtype="fp32")
    h, w = 64, 96

    def region(y: int, x: int, seed: int, feather: int = 0, ramp: str = "smooth") -> RerollRegion:
        m = np.zeros((h, w), bool)
        m[y : y + 20, x : x + 30] = True
        return RerollRegion.make(m, seed, 0.8, feather, ramp)

    def fresh(recipe: NoiseRecipe) -> np.ndarray:
        z = syn.sample_noise(h, w, recipe.style_seed)
        for r in recipe.regions:
            z = syn.reroll(z, np.array(r.mask, copy=True), r.seed, r.strength, r.feather, r.ramp)
        return z

    cache = NoiseFields()
    recipe = NoiseRecipe(h, w, 7)
    for k in range(3):
        recipe = recipe.with_region(region(5 * k, 10 * k, 100 + k))
    first = cache.field(syn, recipe)
    assert cache.rerolls == 3 and np.array_equal(first, fresh(recipe))
    assert cache.field(syn, recipe) is first and cache.rerolls == 3  # a stroke: the same field, nothing recomputed
    longer = recipe.with_region(region(30, 50, 200))
    assert np.array_equal(cache.field(syn, longer), fresh(longer)) and cache.rerolls == 4  # one more reroll only
    undone = cache.field(syn, recipe)  # undo of that reroll: the shorter recipe's field is still there
    assert undone is first and cache.rerolls == 4
    other = NoiseRecipe(h, w, 8, recipe.regions)  # a new style seed: a new base, every region again
    assert np.array_equal(cache.field(syn, other), fresh(other)) and cache.rerolls == 7
    with pytest.raises(dataclasses.FrozenInstanceError):  # immutable, so cached fields cannot be changed by a caller
        first.ids = None

    # many other seeds later (more fields than the Synthesizer remembers layouts for): still read-only and right
    for seed in range(20, 60):
        cache.field(syn, NoiseRecipe(h, w, seed, recipe.regions[:1]))
    assert len(cache) <= cache.max_fields
    again = cache.field(syn, longer.with_region(region(40, 0, 300)))
    assert isinstance(again, NoiseField) and again.num_vectors <= 2 ** 4  # compact: vectors and an id map
    assert np.array_equal(again, fresh(longer.with_region(region(40, 0, 300))))

    # soft borders of both forms: each its own field (an old project's 4 steps are not the new smooth ramp)
    smooth, steps = (NoiseRecipe(h, w, 7, (region(10, 20, 400, 8, ramp),)) for ramp in ("smooth", "steps"))
    assert smooth.key() != steps.key()
    a, b = cache.field(syn, smooth), cache.field(syn, steps)
    assert np.array_equal(a, fresh(smooth)) and np.array_equal(b, fresh(steps)) and not np.array_equal(a, b)

    small = NoiseFields(budget_bytes=first.nbytes)  # room for one field: the newest stays, results stay right
    assert np.array_equal(small.field(syn, longer), fresh(longer))
    assert np.array_equal(small.field(syn, recipe), fresh(recipe))
    assert len(small) == 1


def test_the_documents_soft_border_limits_are_the_librarys():
    from app.doc import recipe
    from oasis_core import noise

    assert (recipe.MAX_FEATHER, recipe.DEFAULT_FEATHER) == (noise.MAX_FEATHER, noise.DEFAULT_FEATHER)
    assert (recipe.FEATHER_RAMPS, recipe.DEFAULT_RAMP) == (noise.FEATHER_RAMPS, noise.DEFAULT_RAMP)
    assert recipe.LEGACY_RAMP in noise.FEATHER_RAMPS


def test_only_the_current_request_of_a_channel_is_answered(engine, model_path):
    """A result whose channel has a newer request is dropped by the engine, even when it was already running;
    channels do not replace each other; a forgotten request is never answered."""
    engine.load_model(model_path, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 30)
    big = np.zeros((512, 512), np.uint8)
    small = np.zeros((64, 64), np.uint8)
    n = len(engine.events["generated"])
    first = engine.generate(big, [NoiseRecipe(512, 512, s) for s in range(3)], channel="variants")
    assert wait_for(lambda: engine.busy, 5)
    main = engine.generate(small, [NoiseRecipe(64, 64, 1)], channel="main")
    second = engine.generate(small, [NoiseRecipe(64, 64, 2)], channel="variants")
    assert engine.current("variants") == second and engine.waiting("variants") and engine.waiting("main")
    assert wait_for(lambda: not engine.busy, 60)
    got = engine.events["generated"][n:]
    assert sorted(r.stamp for r in got) == [main, second]  # the first variants request ran but was not delivered
    assert first not in [r.stamp for r in got]
    assert not engine.waiting("variants") and not engine.waiting("main")
    done = []
    engine.task_done.connect(lambda kind, stamp, result: done.append(kind))
    engine.realism(np.zeros((64, 64, 3), np.uint8))
    engine.forget("realism")
    assert not engine.waiting("realism")
    assert wait_for(lambda: not engine.busy, 30)
    assert done == []  # forgotten: never answered


def test_cancel_stops_a_large_frame_inside_its_last_block_and_the_ui_is_idle_at_once(engine, tmp_path, monkeypatch):
    """Cancelling a long generation: the engine is idle the moment cancel() returns (the abandoned job is not
    waited for), and the worker stops within a fraction of a second even inside the full-resolution block (its
    convolutions go in bands of rows, each preceded by a check), instead of finishing the frame."""
    import threading
    import time

    from app_helpers import make_tiny_model

    import oasis_core.fast.folded as folded
    from oasis_core.noise import NoiseField
    from oasis_core.synthesizer import GenerationCancelled, Synthesizer

    path = make_tiny_model(tmp_path / "wide.safetensors", seed=2)
    syn = Synthesizer.load(path, "cpu", "fp32")
    labels = np.zeros((256, 256), np.uint8)
    asked = []
    with pytest.raises(GenerationCancelled):
        syn.generate(labels, NoiseField.sample(syn.z_dim, 256, 256, 1), cancel=lambda: asked.append(1) or True)
    assert len(asked) == 1, "stopped at the first check"
    ok = syn.generate(labels, NoiseField.sample(syn.z_dim, 256, 256, 1), cancel=lambda: False)
    assert ok.shape == (256, 256, 3), "a call that is not cancelled is unaffected"

    bundled = Path(__file__).resolve().parents[2] / "resources" / "models" / "landscapes.safetensors"
    if not bundled.is_file():
        pytest.skip("no bundled model")
    engine.load_model(bundled, "cpu", "fp32")
    assert wait_for(lambda: engine.events["loaded"], 60)
    entered, finished = threading.Event(), []
    conv_call = folded._Conv.__call__

    def watched(self, x, *args, **kwargs):
        if x.shape[1] < 1536 or entered.is_set():
            return conv_call(self, x, *args, **kwargs)
        entered.set()  # the first convolution at full resolution: about half a second of work
        out = conv_call(self, x, *args, **kwargs)
        finished.append(1)
        return out

    monkeypatch.setattr(folded._Conv, "__call__", watched)
    big = np.zeros((1536, 1536), np.uint8)
    engine.generate(big, [NoiseRecipe(1536, 1536, 5)], channel="main")
    assert entered.wait(60), "the frame reached its full-resolution block"
    t0 = time.perf_counter()
    engine.cancel()
    assert not engine.busy, "idle at once"
    assert wait_for(lambda: engine._running is None, 30)
    stopped = time.perf_counter() - t0
    assert not finished, "the convolution running when cancel came was cut short, not finished"
    assert stopped < 1.0, f"the worker went on for {stopped:.2f} s after cancel"
    assert not engine.events["gen_failed"]
