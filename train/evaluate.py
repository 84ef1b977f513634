"""Evaluation of a run: D as segmenter (mIoU, pixel accuracy), diversity (MS-SSIM), label consistency, FID.

Results are merged into ``<run>/eval.json`` (what ``export`` copies into the model file's metrics).
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oasis_core.files import atomic_write_bytes
from oasis_core.labels import LabelSpace
from oasis_core.runtime import to_uint8
from oasis_core.segmentation import PRIOR_STRENGTH, prior_bias


# ------------------------------------------------------------------------------------------------ metrics
def confusion(pred: torch.Tensor, target: torch.Tensor, n: int, ignore: int | None) -> torch.Tensor:
    keep = torch.ones_like(target, dtype=torch.bool) if ignore is None else target != ignore
    idx = target[keep] * n + pred[keep]
    return torch.bincount(idx.reshape(-1), minlength=n * n).reshape(n, n).double()


def scores(conf: torch.Tensor, ignore: int | None) -> dict[str, float]:
    """Pixel accuracy and mIoU (over classes present in the target or the prediction) from a confusion matrix."""
    conf = conf.clone()
    if ignore is not None:
        conf[ignore, :] = 0
        conf[:, ignore] = 0
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    valid = conf.sum(1) > 0  # classes that occur in the ground truth
    iou = tp[valid] / union[valid].clamp(min=1)
    total = conf.sum().clamp(min=1)
    return {"pixel_accuracy": float(tp.sum() / total), "miou": float(iou.mean()) if valid.any() else 0.0}


def predict_channels(logits: torch.Tensor, space: LabelSpace, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Class channels (B, H, W) chosen among the real classes; ``bias`` (per label-space channel) is added to
    their logits first (the class prior of ``oasis_core.segmentation``)."""
    keep = torch.tensor(space.real_logit_channels(), device=logits.device)
    real = logits[:, keep]
    if bias is not None:
        real = real + bias.to(real)[keep - 1][None, :, None, None]
    return keep[real.argmax(1)] - 1


def ms_ssim_pairwise(images: torch.Tensor) -> float:
    """Mean pairwise MS-SSIM of (S, 3, H, W) images in [-1, 1] (lower = more diverse)."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim

    x = (images.float().clamp(-1, 1) + 1) / 2
    side = min(x.shape[-2:])
    # five scales need >= 176 px with an 11-px kernel; use fewer scales for smaller images
    betas = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    scales = 5
    while scales > 1 and side / 2 ** (scales - 1) <= 11:
        scales -= 1
    b = torch.tensor(betas[:scales])
    b = tuple((b / b.sum()).tolist())
    pairs = list(itertools.combinations(range(len(x)), 2))
    a = torch.stack([x[i] for i, _ in pairs])
    c = torch.stack([x[j] for _, j in pairs])
    return float(ms_ssim(a, c, data_range=1.0, betas=b, reduction="elementwise_mean"))


# ------------------------------------------------------------------------------------------------ segmenter
class SmallSegmenter(nn.Module):
    """A compact U-Net used only to measure label consistency (an independent judge of generated images)."""

    def __init__(self, classes: int, width: int = 32):
        super().__init__()

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
            )  # fmt: skip

        w = width
        self.e1, self.e2, self.e3, self.e4 = block(3, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 8 * w)
        self.d3, self.d2, self.d1 = block(12 * w, 4 * w), block(6 * w, 2 * w), block(3 * w, w)
        self.out = nn.Conv2d(w, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        e4 = self.e4(F.max_pool2d(e3, 2))
        up = lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")  # noqa: E731
        d3 = self.d3(torch.cat([up(e4), e3], 1))
        d2 = self.d2(torch.cat([up(d3), e2], 1))
        d1 = self.d1(torch.cat([up(d2), e1], 1))
        return self.out(d1)


def fit_segmenter(run_dir: str | Path, iters: int = 2000, batch: int = 8, lr: float = 1e-3, progress: bool = True):
    """Train SmallSegmenter on the run's real training split; saved as ``<run>/segmenter.safetensors``."""
    from safetensors.torch import save
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from train.loop import InfiniteShardedSampler, SeededItems
    from train.run import load_run

    run, cfg, space = load_run(run_dir)
    device = run.device
    model = SmallSegmenter(space.num_channels).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    dl = DataLoader(
        SeededItems(run.train_set, cfg.seed + 17),
        batch_size=batch,
        sampler=InfiniteShardedSampler(len(run.train_set), 0, 1, cfg.seed + 17),
        num_workers=1,
    )
    it = iter(dl)
    ignore = space.dont_care if space.dont_care is not None else -100
    model.train()
    bar = tqdm(range(iters), disable=not progress, desc="segmenter")
    for _ in bar:
        image, labels = next(it)
        with torch.autocast(device.type, dtype=run.amp_dtype, enabled=run.amp_dtype != torch.float32):
            logits = model(image.to(device).contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits.float(), labels.to(device), ignore_index=ignore)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(Path(run_dir) / "segmenter.safetensors", save(state))
    return model.eval()


def load_segmenter(run_dir: Path, classes: int, device: torch.device) -> SmallSegmenter | None:
    from safetensors.torch import load_file

    path = run_dir / "segmenter.safetensors"
    if not path.exists():
        return None
    model = SmallSegmenter(classes)
    model.load_state_dict(load_file(str(path)))
    return model.to(device).eval()


# ------------------------------------------------------------------------------------------------ FID (optional)
def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def check_fid_available(weights: Path) -> None:
    """Refuse ``--inception-weights`` up front (ValueError, one sentence) when FID cannot be computed here: the
    optional 'vision' extra is missing, or the weights file is. Checked before any evaluation work starts."""
    try:
        from pytorch_fid import inception  # noqa: F401
    except Exception as exc:  # torchvision missing or broken beside this torch build
        raise ValueError(
            "FID needs the optional 'vision' extra (pip install -e '.[vision]'): torchvision + pytorch-fid "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not Path(weights).is_file():
        raise ValueError(f"{weights}: no such file (the FID Inception weights pt_inception-2015-12-05-6726825d.pth)")


def inception_features(weights: Path):
    """pytorch-fid's InceptionV3 pool features, built from a user-supplied weights file (never downloaded)."""
    check_fid_available(weights)
    from pytorch_fid import inception as pf

    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *a, **k: torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model = pf.InceptionV3([pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], use_fid_inception=True)
    finally:
        pf.load_state_dict_from_url = original
    return model.eval()


# ------------------------------------------------------------------------------------------------ reroll seams
def _reroll_seams(run, g, onehot, z, before: np.ndarray, labels: np.ndarray, i: int) -> dict[str, dict[str, float]]:
    """Reroll each box of :func:`train.quality.boxes` at full strength (a new vector inside it, as the app does),
    with a hard edge and with the app's soft edge (``_soft``), and measure the seam and the colour change of the
    regenerated image against ``before`` (drawn from ``z``)."""
    from oasis_core.noise import DEFAULT_FEATHER, reroll
    from train import quality

    h, w = labels.shape
    out = {}
    for name, box in quality.boxes(h, w).items():
        for feather, suffix in ((0, ""), (DEFAULT_FEATHER, "_soft")):  # a hard edge, and the app's soft edge
            z2 = reroll(z.cpu(), torch.from_numpy(box), 1000 + i, 1.0, feather).to(z)
            with torch.no_grad(), run.autocast():
                after = to_uint8(g(onehot, z2.contiguous(memory_format=run.memory_format)))[0]
            out[name + suffix] = quality.seam_measures(before, after, labels, box)
    return out


# ------------------------------------------------------------------------------------------------ the whole eval
# validation label maps the reroll-seam measure uses by default: every evaluated map. It was the first 16 until
# session 17; on the bundled files their means sat up to 2.5 standard errors from the whole split's (CamVid's soft
# off-grid seam 1.25 on 16 maps, 1.09 +- 0.03 on all 101; its soft dE inside 10.3 / 9.5 against 9.1 / 8.1), the
# validation frames being consecutive and alike. Each map costs four more generator passes.
SEAM_IMAGES = None


def evaluate_run(
    run_dir: str | Path,
    samples: int = 8,
    limit: int | None = None,
    inception_weights: Path | None = None,
    progress: bool = True,
    seam_images: int | None = SEAM_IMAGES,
) -> dict:
    """Evaluate a run folder's EMA generator (BN statistics re-estimated) and discriminator on its validation
    split; the results are merged into ``<run>/eval.json``."""
    from train.run import class_frequencies, load_run

    run_dir = Path(run_dir)
    run, _, space = load_run(run_dir, natural_size=True)
    bias = torch.from_numpy(prior_bias(class_frequencies(run, run_dir)))
    seg = load_segmenter(run_dir, space.num_channels, run.device)
    res = _evaluate(run, run.ema_for_eval(), bias, seg, samples, limit, inception_weights, progress,
                    sheet=run_dir / "painted.png", seam_images=seam_images)  # fmt: skip
    path = run_dir / "eval.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(res)
    atomic_write_bytes(path, json.dumps(old, indent=2).encode())
    return res


def evaluate_model(
    model: str | Path,
    data: str | Path,
    samples: int = 8,
    limit: int | None = None,
    inception_weights: Path | None = None,
    progress: bool = True,
    seam_images: int | None = SEAM_IMAGES,
) -> dict:
    """Evaluate an exported model file as the app uses it (its own BN statistics and class prior) on the
    validation split of ``data``, laid out as the file's training data was (its provenance names the dataset)."""
    from oasis_core.checkpoint import load_checkpoint
    from train import distributed as du
    from train.config import TrainConfig
    from train.data import dataset_factory
    from train.loop import Run, TrainingError

    mf = load_checkpoint(model)
    config = (mf.document.get("provenance") or {}).get("config")
    if not isinstance(config, dict):
        raise TrainingError(f"{model} carries no training configuration (provenance); evaluate its run folder instead")
    cfg = TrainConfig.from_dict(config).replace(
        data=str(data), size=mf.natural_size, load_size=None, run_dir=str(Path(model).parent), device="cpu", workers=0
    )
    run = Run(cfg, du.init("cpu"), dataset_factory(cfg, mf.label_space), mf.label_space)
    run.init_from(model)
    bias = None if mf.segment_bias is None else torch.from_numpy(mf.segment_bias)
    res = _evaluate(
        run, run.ema.eval(), bias, None, samples, limit, inception_weights, progress, seam_images=seam_images
    )
    return res | {"step": (mf.document.get("provenance") or {}).get("iterations"), "model": str(model)}


def _training_sample(run, count: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``count`` real training pairs spread evenly over the training split (files in order, unflipped, at the
    evaluation size): the quality measures' training floor. None where the data folder has no training split."""
    from train.data.base import DatasetError

    try:
        ds = run.dataset_factory("train", flip=False)
    except (DatasetError, FileNotFoundError):
        return None
    if len(ds) == 0 or count < 1:
        return None
    images, labels = [], []
    for i in np.linspace(0, len(ds) - 1, min(count, len(ds))).round().astype(int):
        item = ds[int(i)]
        images.append(to_uint8(item["image"][None])[0])
        labels.append(item["label"].numpy())
    return np.stack(images), np.stack(labels)


def _painted(run, g, size: tuple[int, int], sheet: Path | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Measure 5: the dataset's painted scenes (:mod:`train.painted`) generated at ``size``, one draw each, as
    (images, channel maps); with ``sheet``, a PNG of label map over image per scene is written there."""
    from train.painted import painted_scenes

    scenes = painted_scenes(run.cfg.dataset, run.space, *size)
    if not scenes:
        return None
    images, maps = [], []
    with torch.no_grad():
        for k, (_, values) in enumerate(scenes):
            labels = torch.from_numpy(run.space.to_channels(values).astype(np.int64))[None].to(run.device)
            z = run.noise(1, *size, step=k, salt=0x9A17)
            with run.autocast():
                images.append(to_uint8(g(run.onehot(labels), z).float())[0])
            maps.append(labels[0].cpu().numpy())
    if sheet is not None:
        top = np.concatenate([run.space.colourize(v) for _, v in scenes], 1)
        from PIL import Image

        from oasis_core.imageio import png_bytes

        sheet_image = Image.fromarray(np.concatenate((top, np.concatenate(images, 1)), 0))
        atomic_write_bytes(sheet, png_bytes(sheet_image))
    return np.stack(images), np.stack(maps)


def _seam_summary(seams: list[dict[str, dict[str, float]]]) -> dict[str, float | int]:
    """Each reroll measure's mean over the maps (``quality_reroll_<box>_<measure>``), its standard error (``_se``,
    over the maps where it is defined) and the number of maps (``quality_reroll_maps``)."""
    out: dict[str, float | int] = {"quality_reroll_maps": len(seams)}
    for box in seams[0]:
        for k in seams[0][box]:
            values = np.array([m[box][k] for m in seams], float)
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if len(values) else float("nan")
            se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) >= 2 else float("nan")
            out[f"quality_reroll_{box}_{k}"] = mean
            out[f"quality_reroll_{box}_{k}_se"] = se
    return out


def _evaluate(
    run, g, bias, seg, samples, limit, inception_weights, progress, sheet: Path | None = None, seam_images=SEAM_IMAGES
) -> dict:
    from tqdm import tqdm

    space, device = run.space, run.device
    val = run.dataset_factory("val")
    n = len(val) if limit is None else min(limit, len(val))
    d = run.d_plain.eval()
    nc = space.num_channels
    conf_d = torch.zeros(nc, nc, dtype=torch.float64)
    conf_d_prior = torch.zeros_like(conf_d)
    conf_seg_real = torch.zeros_like(conf_d)
    conf_seg_fake = torch.zeros_like(conf_d)
    diversity = []
    feats_real, feats_fake = [], []
    fid_model = inception_features(inception_weights) if inception_weights else None
    reals, generated, label_maps, seams = [], [], [], []
    t0 = time.perf_counter()
    with torch.no_grad():
        for i in tqdm(range(n), disable=not progress, desc="eval"):
            item = val[i]
            image = item["image"][None].to(device)
            labels = item["label"][None].to(device)
            with run.autocast():
                logits = d(image.contiguous(memory_format=run.memory_format)).float()
            conf_d += confusion(predict_channels(logits, space), labels, nc, space.dont_care).cpu()
            if bias is not None:
                conf_d_prior += confusion(predict_channels(logits, space, bias), labels, nc, space.dont_care).cpu()
            oh = run.onehot(labels)
            z = run.noise(samples, *labels.shape[-2:], step=i, salt=0xE7A1)
            with run.autocast():
                fakes = g(oh.expand(samples, -1, -1, -1), z).float()
            if samples >= 2:
                diversity.append(ms_ssim_pairwise(fakes.cpu()))
            reals.append(to_uint8(image)[0])
            generated.append(to_uint8(fakes[:1])[0])
            label_maps.append(labels[0].cpu().numpy())
            if seam_images is None or i < seam_images:
                seams.append(_reroll_seams(run, g, oh, z[:1], generated[-1], label_maps[-1], i))
            if seg is not None:
                conf_seg_real += confusion(seg(image).argmax(1), labels, nc, space.dont_care).cpu()
                conf_seg_fake += confusion(seg(fakes[:1]).argmax(1), labels, nc, space.dont_care).cpu()
            if fid_model is not None:
                to01 = lambda t: ((t.float().clamp(-1, 1) + 1) / 2).cpu()  # noqa: E731
                feats_real.append(fid_model(to01(image))[0].flatten(1).numpy())
                feats_fake.append(fid_model(to01(fakes[:1]))[0].flatten(1).numpy())
    res = {"step": run.step, "val_images": n}
    res.update({f"d_seg_{k}": v for k, v in scores(conf_d, space.dont_care).items()})
    # what the app and `oasis segment` give: the same logits with the training class prior added
    if bias is not None:
        res.update({f"d_seg_prior_{k}": v for k, v in scores(conf_d_prior, space.dont_care).items()})
    res["d_seg_prior_strength"] = PRIOR_STRENGTH if bias is not None else None
    if diversity:
        res["ms_ssim_diversity"] = float(np.mean(diversity))
        res["ms_ssim_draws"] = samples
    if n >= 4:
        from train import quality

        train = _training_sample(run, n // 2)
        stacks = np.stack(generated), np.stack(reals), np.stack(label_maps)
        res.update({f"quality_{k}": v for k, v in quality.set_measures(*stacks, space.dont_care, train=train).items()})
        res.update({f"quality_{k}": v for k, v in quality.measures_by_scale(*stacks, space.dont_care).items()})
        res.update(_seam_summary(seams))
        res["quality_images"] = n
        painted = _painted(run, g, label_maps[0].shape, sheet)
        if painted is not None:  # streaks on the painted scenes, against the real images' own (the same floor)
            col, row = quality.streaks(*painted, space.dont_care)
            res["quality_painted_scenes"] = len(painted[0])
            for name, value in (("streaks_col", col), ("streaks_row", row)):
                floor = res[f"quality_{name}_floor"]
                res[f"quality_painted_{name}"] = value
                res[f"quality_painted_{name}_ratio"] = quality.ratio(value, floor)
    if seg is not None:
        real = scores(conf_seg_real, space.dont_care)
        fake = scores(conf_seg_fake, space.dont_care)
        res["segmenter_miou_real"] = real["miou"]
        res["segmenter_miou_generated"] = fake["miou"]
        res["label_consistency"] = fake["miou"] / max(real["miou"], 1e-9)
    if fid_model is not None:
        res["fid"] = fid_from_features(np.concatenate(feats_real), np.concatenate(feats_fake))
    elif inception_weights is None:
        res["fid"] = None
        res["fid_note"] = (
            "skipped: pass --inception-weights pt_inception-2015-12-05-6726825d.pth (the standard pytorch-fid "
            "weights) and install the 'vision' extra"
        )
    res["eval_seconds"] = round(time.perf_counter() - t0, 1)
    return res
