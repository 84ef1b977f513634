"""A run folder read back: its config, label space and latest state as a single-process ``Run`` (for export and
evaluation), and the training split's class frequencies cached beside it."""

from __future__ import annotations

import json
from pathlib import Path

from oasis_core.files import atomic_write_bytes
from oasis_core.labels import LabelSpace
from train import distributed as du
from train.config import TrainConfig
from train.data.registry import dataset_factory
from train.loop import STATE_FILE, Run, TrainingError, load_state


def load_run(
    run_dir: str | Path, device: str = "cpu", natural_size: bool = False
) -> tuple[Run, TrainConfig, LabelSpace]:
    """Rebuild a Run (single process) from a run folder's config and latest state.

    ``natural_size``: data at the size the model is meant for (a run trained on crops of ``load_size`` images is
    evaluated, and its BN statistics re-estimated, on whole ``load_size`` images).
    """
    run_dir = Path(run_dir)
    state_path = run_dir / STATE_FILE
    if not state_path.exists():
        raise TrainingError(f"{run_dir} holds no training state ({STATE_FILE}); is it a run folder?")
    st = load_state(state_path)
    cfg = TrainConfig.from_dict(json.loads(st["config"])).replace(device=device, run_dir=str(run_dir), workers=0)
    space = LabelSpace.from_dict(json.loads(st["label_space"]))
    if natural_size and cfg.load_size:
        crop = {"train_crop": list(cfg.size), "train_load_size": list(cfg.load_size)}
        cfg = cfg.replace(size=cfg.load_size, load_size=None, notes={**cfg.notes, **crop})
    info = du.init(device)
    run = Run(cfg, info, dataset_factory(cfg, space), space)
    run.load_state_dict(st)
    return run, cfg, space


FREQUENCIES_FILE = "class_frequencies.json"


def class_frequencies(run: Run, run_dir: str | Path) -> list[float]:
    """The training split's class frequencies (``PairedDataset.class_frequencies``), cached in the run folder:
    counting decodes every training label map, which takes minutes on ADE20K-sized data. The cache is used only
    while the data folder, the label space and the number of training pairs are those it was counted for."""
    path = Path(run_dir) / FREQUENCIES_FILE
    key = {"data": str(run.cfg.data), "label_space": run.space.name, "pairs": len(run.train_set)}
    if path.exists():
        try:
            cached = json.loads(path.read_text())
            if cached.get("key") == key and len(cached.get("frequencies", [])) == run.space.num_channels:
                return [float(f) for f in cached["frequencies"]]
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # unreadable or foreign: count again and overwrite
    freq = [round(float(f), 6) for f in run.train_set.class_frequencies()]
    atomic_write_bytes(path, json.dumps({"key": key, "frequencies": freq}, indent=1).encode())
    return freq
