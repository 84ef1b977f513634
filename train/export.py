"""Run folder -> the project's model file: EMA generator (BN statistics re-estimated) + discriminator."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch

from oasis_core.checkpoint import atomic_write_bytes, save_checkpoint
from oasis_core.labels import LabelSpace
from oasis_core.segmentation import PRIOR_STRENGTH
from train import distributed as du
from train.config import TrainConfig
from train.loop import STATE_FILE, Run, TrainingError, load_state

# Licences of the data each bundled model learned from (shown in the model file and the model card).
DATA_LICENCES = {
    "camvid": "Trained on CamVid (Brostow et al., Cambridge), research use, CC BY-NC 4.0: non-commercial use only.",
    "facades": "Trained on the CMP Facade Database (Tylecek & Sara 2013), research use; cite the authors.",
    "landscapes": (
        "Trained on procedural landscapes rendered by OASIS Studio from texture tiles of the Debian packages "
        "extremetuxracer-data and scorched3d-data (GPL-2+); see resources/models/LICENSES."
    ),
}


def load_run(
    run_dir: str | Path, device: str = "cpu", natural_size: bool = False
) -> tuple[Run, TrainConfig, LabelSpace]:
    """Rebuild a Run (single process) from a run folder's config and latest state.

    ``natural_size``: data at the size the model is meant for (a run trained on crops of ``load_size`` images is
    evaluated, and its BN statistics re-estimated, on whole ``load_size`` images).
    """
    from train.cli import dataset_factory

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


def export_run(
    run_dir: str | Path,
    out: str | Path,
    dtype: torch.dtype = torch.float16,
    name: str | None = None,
    with_discriminator: bool = True,
) -> Path:
    run, cfg, space = load_run(run_dir, natural_size=True)
    g = run.ema_for_eval()
    metrics = {}
    eval_path = Path(run_dir) / "eval.json"
    if eval_path.exists():
        metrics = json.loads(eval_path.read_text())
    extra = {}
    if with_discriminator:
        extra["segmentation_prior"] = {
            "class_frequencies": class_frequencies(run, run_dir),
            "strength": PRIOR_STRENGTH,
            "source": "pixel frequencies of the training split (each label map weighing the same)",
        }
    return save_checkpoint(
        out,
        g,
        run.d_plain if with_discriminator else None,
        label_space=space,
        name=name or f"{cfg.dataset} ({cfg.preset})",
        natural_size=cfg.size,
        provenance={
            "trained_by": "OASIS Studio train/",
            "dataset": cfg.dataset,
            "preset": cfg.preset,
            "iterations": run.step,
            "batch": cfg.batch,
            "images_seen": run.step * cfg.batch,
            "size": list(cfg.size),
            "exported": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config": cfg.to_dict(),
        },
        metrics=metrics,
        licence=DATA_LICENCES.get(cfg.dataset, "Trained on user data; see its licence."),
        extra=extra,
        dtype=dtype,
    )
