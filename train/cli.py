"""``oasis-train``: fit, check, eval, export, make-landscapes (also ``torchrun ... -m train fit ...``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import traceback
from pathlib import Path

import torch

from oasis_core.memory import MAX_SIDE
from train import distributed as du
from train.config import COMPILE_CHOICES, MIXED_NOISE_SHAPES, PRESETS, make_config


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HxW (e.g. 256x256), got {text!r}") from None
    if h < 32 or w < 32 or h % 32 or w % 32:
        raise argparse.ArgumentTypeError(f"size {text}: both sides must be multiples of 32 (at least 32)")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"size {text}: sides of at most {MAX_SIDE} pixels")
    return h, w


def _int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text}")
        return v

    return parse


_positive = _int_at_least(1)
_non_negative = _int_at_least(0)


def _multipliers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if len(values) < 2 or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected two or more positive multipliers, got {text!r}")
    return values


def _decay(text: str) -> float:
    v = _float_at_least(0.0, strict=False)(text)
    if v >= 1.0:
        raise argparse.ArgumentTypeError(f"the EMA decay must be in [0, 1), got {text}")
    return v


def _feather(text: str) -> int:
    from oasis_core.noise import MAX_FEATHER

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if not 0 <= v <= MAX_FEATHER:
        raise argparse.ArgumentTypeError(f"the soft edge must be 0 to {MAX_FEATHER} px, got {text}")
    return v


def _shapes(text: str) -> tuple[str, ...]:
    shapes = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in shapes if s not in MIXED_NOISE_SHAPES]
    if not shapes or unknown:
        raise argparse.ArgumentTypeError(
            f"expected shapes from {', '.join(MIXED_NOISE_SHAPES)} separated by commas, got {text!r}"
        )
    return shapes


def _float_at_least(low: float, strict: bool):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text}") from None
        if not math.isfinite(v) or v < low or (strict and v == low):
            raise argparse.ArgumentTypeError(f"expected a finite number {'>' if strict else '>='} {low:g}, got {text}")
        return v

    return parse


def _fraction(text: str) -> float:
    v = _float_at_least(0.0, strict=False)(text)
    if v > 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return v


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="oasis-train", description="Train, evaluate and export OASIS models.")
    sub = ap.add_subparsers(dest="command", required=True)

    f = sub.add_parser("fit", help="train (single process, or one process per device under torchrun)")
    f.add_argument("--dataset", required=True, help="ade20k, cityscapes, coco, camvid, facades, landscapes, folder")
    f.add_argument("--data", required=True, type=Path, help="dataset root folder")
    f.add_argument("--preset", default="lite", choices=sorted(PRESETS), help="hyper-parameters and widths")
    f.add_argument("--size", type=_size, default=(256, 256), help="training size HxW (default 256x256)")
    f.add_argument("--load-size", type=_size, help="resize to this size, then random-crop --size")
    f.add_argument("--batch", type=_positive, default=8, help="images per process per step")
    f.add_argument("--iters", type=_positive, required=True, help="total training steps")
    f.add_argument("--run-dir", required=True, type=Path)
    f.add_argument("--resume", action="store_true", help="continue the run folder's latest state")
    f.add_argument("--init-from", type=Path, help="warm start a new run from a model file (.safetensors)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    f.add_argument("--no-channels-last", action="store_true")
    f.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    f.add_argument(
        "--workers",
        type=_non_negative,
        help="data loader processes per training process (default: 0 where a training process has at most 2 cores, "
        "where a loader process slows the steps; else 1)",
    )
    f.add_argument("--lr-g", type=_float_at_least(0.0, strict=True))
    f.add_argument("--lr-d", type=_float_at_least(0.0, strict=True))
    f.add_argument("--lambda-labelmix", type=_float_at_least(0.0, strict=False))
    f.add_argument("--ema-decay", type=_decay, help="EMA decay of the generator's weights, in [0, 1)")
    f.add_argument("--ch", type=_positive, help="generator width (paper: 64)")
    f.add_argument("--spade-hidden", type=_positive, help="SPADE hidden width (paper: 128)")
    f.add_argument(
        "--g-multipliers",
        type=_multipliers,
        metavar="M,M,...",
        help="generator block widths as multiples of --ch, lowest level first (paper: 16,16,16,8,4,2,1); a warm "
        "start (--init-from) from a file with smaller widths grows its weights, keeping what it computes",
    )
    f.add_argument(
        "--g-upsample",
        choices=("nearest", "bilinear"),
        help="the generator's x2 between blocks (paper: nearest); pass it again with --resume",
    )
    f.add_argument(
        "--g-grain",
        type=_non_negative,
        metavar="N",
        help="per-pixel grain (a function of the noise field) into the generator's last N blocks (paper: 0); a warm "
        "start from a file without it begins with zero grain weights (the same images); pass it again with --resume",
    )
    f.add_argument(
        "--g-grain-out",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per-pixel grain added to the generator's output, with an amplitude per class and colour channel "
        "estimated from the training images every 100 steps and for eval and export (the images' sensor noise; "
        "paper: off); a warm start or a resume may add it; pass it again with --resume",
    )
    f.add_argument(
        "--g-grain-fit",
        choices=("noise", "energy"),
        help="how the output grain's amplitudes are estimated: noise (the default), the real images' pixel noise "
        "(a median of their finest wavelet details, which edges and structure barely move); energy, all the "
        "high-pass energy the generated images lack (it fills detail the generator does not draw with noise); a "
        "resume keeps the run's",
    )
    f.add_argument(
        "--g-grain-lr",
        type=_float_at_least(0.0, strict=True),
        metavar="M",
        help="the grain weights' learning rate as a multiple of --lr-g (default 1); pass it again with --resume",
    )
    f.add_argument(
        "--reuse-fake",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the D step trains on the G step's fake (detached) instead of generating again (default: on for the "
        "lite presets, off for the paper's)",
    )
    f.add_argument(
        "--reuse-fake-logits",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --reuse-fake: the discriminator's output on the fake, computed in the G step, is reused by the D "
        "step's loss (default: on; the same losses, and the D step runs D on 2 of the 3 image sets); "
        "--no-reuse-fake-logits: D sees the fake again",
    )
    f.add_argument(
        "--grouped-spade",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compute the generator's SPADEs once per distinct label/noise neighbourhood on large levels (default: "
        "on; the same function, faster); --no-grouped-spade: dense convolutions",
    )
    f.add_argument(
        "--fast-resample",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the discriminator resamples inside its convolutions (stride-2 and transposed; default: on; the same "
        "function, fewer multiply-adds); --no-fast-resample: the literal layer order",
    )
    f.add_argument(
        "--compile",
        choices=COMPILE_CHOICES,
        help="torch.compile (Inductor) of the discriminator (d) or of both networks (all); needs a C++ compiler on "
        "CPU, Triton on CUDA, else training runs eager with one line saying why. The first step compiles (minutes). "
        "Default off: on a 2-core CPU it was measured slower; benchmarks.bench_train --compile measures it here",
    )
    f.add_argument(
        "--grad-clip",
        type=_float_at_least(0.0, strict=False),
        metavar="NORM",
        help="clip G's and D's gradient norms (0: off; lite presets: 10, paper presets: off)",
    )
    f.add_argument(
        "--init-gain-d",
        type=_float_at_least(0.0, strict=True),
        metavar="GAIN",
        help="xavier gain of D's initial weights (paper: 0.02; lite presets: 1.0)",
    )
    f.add_argument(
        "--diversity",
        type=_float_at_least(0.0, strict=False),
        metavar="LAMBDA",
        help="weight of a diversity-sensitive term for G (not in the paper; 0: off, the default; try 0.1-1 on a run "
        "that already trains well, and pass it again with --resume)",
    )
    f.add_argument(
        "--diversity-cap",
        type=_float_at_least(0.0, strict=True),
        metavar="TAU",
        help="cap of the diversity ratio mean|G(z1)-G(z2)| / mean|z1-z2| (default 0.25)",
    )
    f.add_argument(
        "--diversity-reroll",
        action="store_true",
        default=None,
        help="with --diversity: the second draw rerolls a region of the first (the --mixed-noise-shapes, with its "
        "--mixed-noise-feather), and the ratio is taken inside the region: G learns to redraw a rerolled region "
        "(not in the paper; pass it again with --resume)",
    )
    f.add_argument(
        "--diversity-leak",
        type=_float_at_least(0.0, strict=False),
        metavar="WEIGHT",
        help="with --diversity-reroll: weight of a penalty on the change more than 16 px outside the rerolled region, "
        "in the ratio's unit (0: off, the default; pass it again with --resume)",
    )
    f.add_argument(
        "--mixed-noise",
        type=_fraction,
        metavar="P",
        help="fraction of the images whose noise gets a second vector in a random region (a class or an ellipse), "
        "as rerolls make it (not in the paper; 0: off, the default; pass it again with --resume)",
    )
    f.add_argument(
        "--mixed-noise-feather",
        type=_feather,
        metavar="PX",
        help="with --mixed-noise: the second vector fades in over PX pixels from the region's edge, as the app's "
        "soft-edged rerolls do (0: a hard edge, the default; pass it again with --resume)",
    )
    f.add_argument(
        "--mixed-noise-shapes",
        type=_shapes,
        metavar="S,S,...",
        help="with --mixed-noise: the region shapes, each equally often, from class (a per-class reroll), ellipse "
        "(a lasso) and box (a box reroll); default class,ellipse; pass it again with --resume",
    )
    f.add_argument("--save-every", type=_positive, default=100)
    f.add_argument(
        "--save-minutes",
        type=_float_at_least(0.0, strict=False),
        help="also save the state when this many minutes have passed since the last save (a time budget)",
    )
    f.add_argument("--sample-every", type=_non_negative, default=250, help="0: no sample sheets")
    f.add_argument("--log-every", type=_positive, default=10)
    f.add_argument("--check-every", type=_non_negative, default=100, help="steps between cross-rank weight checks")

    c = sub.add_parser("check", help="validate a dataset and print class statistics")
    c.add_argument("--dataset", required=True)
    c.add_argument("--data", required=True, type=Path)

    e = sub.add_parser("export", help="write the EMA generator (+ discriminator) as a model file")
    e.add_argument("run_dir", type=Path)
    e.add_argument("-o", "--output", required=True, type=Path)
    e.add_argument("--dtype", choices=["fp16", "fp32", "bf16"], default="fp16")
    e.add_argument("--name", help="display name stored in the model file")
    e.add_argument("--no-discriminator", action="store_true")

    v = sub.add_parser("eval", help="D-as-segmenter mIoU, diversity (MS-SSIM), optional FID")
    v.add_argument("run_dir", type=Path, nargs="?", help="a run folder (or give --model and --data)")
    v.add_argument("--model", type=Path, help="evaluate an exported model file instead of a run folder")
    v.add_argument("--data", type=Path, help="with --model: the dataset folder (its validation split is used)")
    v.add_argument("--samples", type=_int_at_least(2), default=8, help="noise draws per label map for diversity")
    v.add_argument("--limit", type=_positive, help="use only the first N validation images")
    v.add_argument(
        "--seam-images",
        type=_positive,
        metavar="N",
        help="reroll the boxes of the seam measure on only the first N maps (default: every evaluated map; "
        "four generator passes each)",
    )
    v.add_argument("--inception-weights", type=Path, help="pt_inception-2015-12-05-6726825d.pth for FID")

    s = sub.add_parser("fit-segmenter", help="train a small segmenter on real data (label-consistency judge)")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--iters", type=_positive, default=2000)
    s.add_argument("--batch", type=_positive, default=8)

    ms = sub.add_parser("model-samples", help="model-card sheet: label map | two noise draws | a reroll")
    ms.add_argument("model", type=Path)
    ms.add_argument("labels", type=Path, nargs="+", help="label map PNGs (label-file values)")
    ms.add_argument("-o", "--output", required=True, type=Path)

    m = sub.add_parser("make-landscapes", help="render the procedural landscapes dataset")
    m.add_argument("-o", "--output", required=True, type=Path)
    m.add_argument("--count", type=_positive, default=2000)
    m.add_argument("--size", type=_size, default=(256, 256))
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--val-fraction", type=_fraction, default=0.1, help="share of scenes for validation, < 1")
    m.add_argument("--textures", type=Path, help="texture folder (default: ../shared/data/textures)")
    m.add_argument("--workers", type=_positive, default=1, help="processes that render (the same files; default 1)")
    return ap


def _saved_grain_fit(run_dir: Path) -> str | None:
    """The output grain estimate a run folder was trained with (a resume keeps it unless --g-grain-fit says
    otherwise; runs from before the choice used the energy estimate); None where the folder has no config."""
    from train.config import TrainConfig

    try:
        return TrainConfig.from_dict(json.loads((Path(run_dir) / "config.json").read_text())).g_grain_fit
    except (OSError, ValueError, TypeError, KeyError):
        return None


def cmd_fit(args: argparse.Namespace) -> int:
    from train.data import dataset_factory, default_label_space
    from train.loop import default_workers, env_threads, fit

    env_threads()
    cfg = make_config(
        args.preset,
        dataset=args.dataset,
        data=str(args.data),
        run_dir=str(args.run_dir),
        size=args.size,
        load_size=args.load_size,
        batch=args.batch,
        iters=args.iters,
        seed=args.seed,
        precision=args.precision,
        channels_last=not args.no_channels_last,
        device=args.device,
        workers=default_workers() if args.workers is None else args.workers,
        lr_g=args.lr_g,
        lr_d=args.lr_d,
        lambda_labelmix=args.lambda_labelmix,
        ema_decay=args.ema_decay,
        ch=args.ch,
        spade_hidden=args.spade_hidden,
        g_multipliers=args.g_multipliers,
        g_upsample=args.g_upsample,
        g_grain=args.g_grain,
        g_grain_lr=args.g_grain_lr,
        g_grain_out=args.g_grain_out,
        g_grain_fit=args.g_grain_fit or (_saved_grain_fit(args.run_dir) if args.resume else None),
        save_minutes=args.save_minutes,
        reuse_fake=args.reuse_fake,
        reuse_fake_logits=args.reuse_fake_logits,
        grouped_spade=args.grouped_spade,
        fast_resample=args.fast_resample,
        compile=args.compile,
        grad_clip_g=args.grad_clip,
        grad_clip_d=args.grad_clip,
        init_gain_d=args.init_gain_d,
        lambda_diversity=args.diversity,
        diversity_cap=args.diversity_cap,
        diversity_reroll=args.diversity_reroll,
        diversity_leak=args.diversity_leak,
        mixed_noise=args.mixed_noise,
        mixed_noise_feather=args.mixed_noise_feather,
        mixed_noise_shapes=args.mixed_noise_shapes,
        save_every=args.save_every,
        sample_every=args.sample_every,
        log_every=args.log_every,
        check_every=args.check_every,
    )
    if cfg.diversity_reroll and cfg.lambda_diversity <= 0:
        print("oasis-train fit: --diversity-reroll shapes the diversity term's second draw: give --diversity too",
              file=sys.stderr)  # fmt: skip
        return 2
    if cfg.diversity_leak > 0 and not cfg.diversity_reroll:
        print("oasis-train fit: --diversity-leak weighs change outside a rerolled region: give --diversity-reroll too",
              file=sys.stderr)  # fmt: skip
        return 2
    space = default_label_space(cfg.dataset, cfg.data)
    info = du.init(cfg.device)
    code = 1  # until it is known how the run ended (os._exit below must not report success by default)
    try:
        run = fit(cfg, info, dataset_factory(cfg, space), space, resume=args.resume, init_from=args.init_from)
        if info.is_main:
            print(f"finished at step {run.step}; state in {cfg.run_dir}")
        code = 0
    except BaseException as exc:
        if not info.enabled:
            raise  # main() reports it
        # a torchrun worker ends through os._exit below: report here (every rank; the others prefixed), with an
        # exit code that says what happened
        code = _report(args.command if info.is_main else f"{args.command} (rank {info.rank})", exc)
    finally:
        du.finish(info, code)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    from train.data import check_dataset, default_label_space, format_check_report

    space = default_label_space(args.dataset, args.data)
    stats = check_dataset(args.dataset, args.data, label_space=space)
    print(format_check_report(stats, space))
    return 1 if stats.get("errors") else 0


def cmd_export(args: argparse.Namespace) -> int:
    from train.export import export_run

    dtype = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    out = export_run(
        args.run_dir, args.output, dtype=dtype, name=args.name, with_discriminator=not args.no_discriminator
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from train.evaluate import check_fid_available, evaluate_model, evaluate_run

    kw = dict(
        samples=args.samples, limit=args.limit, inception_weights=args.inception_weights, seam_images=args.seam_images
    )
    if (args.run_dir is None) == (args.model is None) or (args.model is None) != (args.data is None):
        print("oasis-train eval: give a run folder, or --model FILE with --data DIR", file=sys.stderr)
        return 2
    if args.inception_weights is not None:
        check_fid_available(args.inception_weights)  # before minutes of work, not after
    results = evaluate_run(args.run_dir, **kw) if args.model is None else evaluate_model(args.model, args.data, **kw)
    for k, v in results.items():
        if k.endswith("_se") and k[:-3] in results:
            continue  # printed beside its mean
        se = results.get(f"{k}_se")
        print(f"{k:<34} {v}" if se is None else f"{k:<34} {v} +- {se:.3g}")
    return 0


def cmd_fit_segmenter(args: argparse.Namespace) -> int:
    from train.evaluate import fit_segmenter

    fit_segmenter(args.run_dir, iters=args.iters, batch=args.batch)
    print(f"wrote {args.run_dir / 'segmenter.safetensors'}; `oasis-train eval` now reports label consistency")
    return 0


def cmd_model_samples(args: argparse.Namespace) -> int:
    from train.model_card import sample_sheet

    print(f"wrote {sample_sheet(args.model, args.labels, args.output)}")
    return 0


def cmd_make_landscapes(args: argparse.Namespace) -> int:
    from train.landscapes import write_dataset

    if not 0.0 <= args.val_fraction < 1.0:
        raise ValueError("--val-fraction must be in [0, 1)")
    write_dataset(
        args.output,
        args.count,
        size=args.size,
        seed=args.seed,
        val_fraction=args.val_fraction,
        textures_root=args.textures,
        workers=args.workers,
    )
    print(f"wrote {args.count} scenes to {args.output}")
    return 0


COMMANDS = {
    "fit": cmd_fit,
    "check": cmd_check,
    "export": cmd_export,
    "eval": cmd_eval,
    "fit-segmenter": cmd_fit_segmenter,
    "model-samples": cmd_model_samples,
    "make-landscapes": cmd_make_landscapes,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BaseException as exc:
        if isinstance(exc, (SystemExit, GeneratorExit)):
            raise
        return _report(args.command, exc)


def _report(command: str, exc: BaseException) -> int:
    """One line on stderr for an expected failure or an interruption (exit 2 / 130); a traceback otherwise (1)."""
    from oasis_core.checkpoint import CheckpointError
    from train.data import DatasetError
    from train.loop import TrainingError

    if isinstance(exc, KeyboardInterrupt):
        print(f"oasis-train {command}: interrupted; resume with --resume", file=sys.stderr)
        return 130
    if isinstance(exc, (DatasetError, TrainingError, CheckpointError, ValueError, FileNotFoundError)):
        text = str(exc)
        if "Original Traceback" in text:  # re-raised from a data-loader worker: its own message is the last line
            last = [line for line in text.splitlines() if line.strip()][-1]
            text = last.split(": ", 1)[1] if last.startswith(type(exc).__name__ + ":") else last
        print(f"oasis-train {command}: error: {text}", file=sys.stderr)
        return 2
    traceback.print_exception(exc)
    return 1


if __name__ == "__main__":
    sys.exit(main())
