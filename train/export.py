"""Run folder -> the project's model file: EMA generator (BN statistics re-estimated) + discriminator."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch

from oasis_core.checkpoint import save_checkpoint
from oasis_core.segmentation import PRIOR_STRENGTH
from train.run import class_frequencies, load_run

# Licences of the data each bundled model learned from (shown in the model file and the model card).
DATA_LICENCES = {
    "camvid": "Trained on CamVid (Brostow et al., Cambridge), research use, CC BY-NC 4.0: non-commercial use only.",
    "facades": "Trained on the CMP Facade Database (Tylecek & Sara 2013), research use; cite the authors.",
    "landscapes": (
        "Trained on procedural landscapes rendered by OASIS Studio from texture tiles of the Debian packages "
        "extremetuxracer-data and scorched3d-data (GPL-2+); see resources/models/LICENSES."
    ),
}


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
