"""``oasis``: generate, segment, convert official checkpoints, inspect model files.

Every user input is validated where it enters; an error prints one sentence to stderr and exits with status 2
(bad input) or 1 (anything else), and no output file is half-written (all writes are atomic).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from oasis_core import __version__
from oasis_core.checkpoint import CheckpointError, convert_official, load_checkpoint, read_document
from oasis_core.files import WriteError
from oasis_core.imageio import (
    ImageReadError,
    read_label_values,
    read_npy,
    read_rgb,
    write_gray_png,
    write_label_png,
    write_npy,
    write_rgb,
)
from oasis_core.labels import LabelError, resize_nearest
from oasis_core.memory import MAX_SIDE


class UsageError(ValueError):
    """A command-line value is wrong."""


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like HxW (e.g. 256x512), got {text!r}") from None
    if h <= 0 or w <= 0 or h > MAX_SIDE or w > MAX_SIDE:
        raise argparse.ArgumentTypeError(f"size {text} is out of range (1..{MAX_SIDE} per side)")
    return h, w


def _add_runtime(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to run (default: auto)")
    p.add_argument(
        "--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help="precision (default: auto)"
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="oasis", description="OASIS semantic image synthesis: the model library's tools.")
    ap.add_argument("--version", action="version", version=f"oasis {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="generate an image from a label map")
    g.add_argument("--model", required=True, type=Path, help="model file (.safetensors)")
    g.add_argument("--labels", required=True, type=Path, help="label map: PNG of label ids, or a (H, W) .npy")
    src = g.add_mutually_exclusive_group()
    src.add_argument("--seed", type=int, default=0, help="noise seed (one vector per image, as in the paper)")
    src.add_argument("--noise", type=Path, help="noise .npy: a (z,) vector (replicated) or a (z, H, W) field")
    g.add_argument("--size", type=_parse_size, help="resize the label map (nearest) to HxW first")
    g.add_argument(
        "--no-pad", dest="pad", action="store_false",
        help="refuse sizes that are not a multiple of 32 (default: pad the map, replicating its border, and crop back)",
    )  # fmt: skip
    g.add_argument("--pad", dest="pad", action="store_true", help=argparse.SUPPRESS)  # the default; older scripts
    g.add_argument("-o", "--output", required=True, type=Path, help="output image (.png/.jpg)")
    g.add_argument("--raw", type=Path, help="also write the float32 (3, H, W) output in [-1, 1] as .npy")
    _add_runtime(g)

    s = sub.add_parser("segment", help="segment a photo into the model's classes with its discriminator")
    s.add_argument("--model", required=True, type=Path)
    s.add_argument("image", type=Path, help="photo, or a (3, H, W) float32 .npy in [-1, 1] (exact path, no resize)")
    s.add_argument("-o", "--output", required=True, type=Path, help="label map PNG (indexed, model palette)")
    s.add_argument("--confidence", type=Path, help="confidence map PNG (grayscale)")
    s.add_argument("--logits", type=Path, help="raw (N+1, H, W) discriminator logits as .npy")
    s.add_argument("--flip", action="store_true", help="average with the mirrored photo (test-time augmentation)")
    s.add_argument(
        "--no-prior",
        action="store_true",
        help="plain argmax of the logits, without the model's training class prior (files that carry one)",
    )
    s.add_argument("--cleanup", action="store_true", help="merge small regions and fill low-confidence pixels")
    s.add_argument("--min-region", type=int, default=64, help="smallest region kept by --cleanup, in pixels")
    _add_runtime(s)

    c = sub.add_parser("convert-official", help="import the authors' best_EMA.pth [best_D.pth]")
    c.add_argument("generator", type=Path, help="official generator state dict (e.g. best_EMA.pth)")
    c.add_argument("discriminator", type=Path, nargs="?", help="official discriminator state dict (best_D.pth)")
    c.add_argument("--dataset", required=True, choices=["ade20k", "cityscapes", "coco"])
    c.add_argument("-o", "--output", required=True, type=Path)
    c.add_argument("--fp16", action="store_true", help="store weights in half precision")

    i = sub.add_parser("info", help="print a model file's configs, parameter counts, classes and provenance")
    i.add_argument("model", type=Path)
    i.add_argument("--json", action="store_true", help="print the metadata document as JSON")
    return ap


def _load_noise(path: Path, z_dim: int, h: int, w: int) -> np.ndarray:
    z = read_npy(path, "a noise array", max_elements=z_dim * h * w)
    if not np.issubdtype(z.dtype, np.floating) or not np.isfinite(z).all():
        raise UsageError(f"{path}: noise must hold finite floating-point values")
    z = z.astype(np.float32)
    if z.shape == (z_dim,):
        return np.broadcast_to(z[:, None, None], (z_dim, h, w)).copy()
    if z.shape == (z_dim, h, w):
        return z
    raise UsageError(
        f"{path}: noise must be ({z_dim},) or ({z_dim}, {h}, {w}) for this model and label map, got {z.shape}"
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from oasis_core.runtime import to_uint8
    from oasis_core.synthesizer import Synthesizer

    syn = Synthesizer.load(args.model, device=args.device, dtype=args.dtype)
    values, warning = read_label_values(args.labels, syn.label_space)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    if args.size:
        values = resize_nearest(values, args.size)
    h, w = values.shape
    if not args.pad:
        syn.check_size(h, w)  # raises the clear message
    noise = _load_noise(args.noise, syn.z_dim, h, w) if args.noise is not None else syn.sample_noise(h, w, args.seed)
    raw = syn.generate_tensor(values, noise, pad=args.pad)[0]
    img = to_uint8(raw[None])[0]
    if args.raw:
        write_npy(args.raw, raw.numpy().astype(np.float32))
    write_rgb(args.output, img)
    print(f"wrote {args.output} ({w}x{h}, {syn.device.type} {str(syn.dtype).replace('torch.', '')})")
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    import torch

    from oasis_core.synthesizer import Synthesizer

    syn = Synthesizer.load(args.model, device=args.device, dtype=args.dtype)
    if not syn.has_discriminator:
        raise UsageError(f"{args.model} has no discriminator, so it cannot segment")
    if args.min_region < 1:
        raise UsageError("--min-region must be at least 1 pixel")
    if args.image.suffix.lower() == ".npy":
        x = read_npy(args.image, "an image array")
        if x.ndim != 3 or x.shape[0] != 3 or not np.issubdtype(x.dtype, np.floating):
            raise UsageError(f"{args.image}: expected a (3, H, W) float array in [-1, 1], got {x.shape} {x.dtype}")
        if not np.isfinite(x).all():
            raise UsageError(f"{args.image}: the image array holds NaN or infinite values")
        logits = syn.discriminate(x.astype(np.float32))[0]
        if args.flip:
            logits = 0.5 * (logits + syn.discriminate(x[:, :, ::-1].copy())[0].flip(-1))
        keep = syn._real_channels()
        bias = torch.from_numpy(syn.real_class_bias(not args.no_prior)).to(logits)
        real = (logits[keep] + bias[:, None, None]).softmax(0)
        conf, idx = real.max(0)
        labels = syn.label_space.to_values((keep[idx] - 1).cpu().numpy())
        confidence = conf.cpu().numpy()
        logits_np = logits.cpu().numpy()
    else:
        photo = read_rgb(args.image)
        result = syn.segment(photo, flip=args.flip, prior=not args.no_prior)
        labels, confidence = result.labels, result.confidence
        logits_np = None
        if args.logits:
            raise UsageError("--logits needs the exact numeric path: give the image as a (3, H, W) .npy")
    if args.cleanup:
        from oasis_core.segmentation import cleanup_labels

        labels = cleanup_labels(labels, confidence, min_region=args.min_region)
    write_label_png(args.output, labels, syn.label_space)
    if args.confidence:
        write_gray_png(args.confidence, confidence)
    if args.logits is not None and logits_np is not None:
        write_npy(args.logits, logits_np.astype(np.float32))
    prior = " (labels with the model's class prior)" if syn.has_segment_prior and not args.no_prior else ""
    print(f"wrote {args.output}{prior}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    import torch

    out = convert_official(
        args.generator,
        args.discriminator,
        args.dataset,
        args.output,
        dtype=torch.float16 if args.fp16 else torch.float32,
    )
    print(f"wrote {out}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    doc = read_document(args.model)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    mf = load_checkpoint(args.model)
    g = mf.build_generator()
    n_g = sum(p.numel() for p in g.parameters())
    print(f"model      {mf.name}  ({args.model}, sha256 {mf.sha256[:16]}...)")
    print(f"generator  {n_g:,} parameters; {json.dumps(mf.generator_config.to_dict())}")
    d = mf.build_discriminator()
    if d is not None:
        n_d = sum(p.numel() for p in d.parameters())
        print(f"discrim.   {n_d:,} parameters; {json.dumps(mf.discriminator_config.to_dict())}")
    else:
        print("discrim.   none (generation only)")
    h, w = mf.natural_size
    print(f"size       {h}x{w} natural; any multiple of {mf.generator_config.downscale}")
    ls = mf.label_space
    print(
        f"classes    {ls.name}: {ls.num_classes} classes, {ls.num_channels} channels, don't care: {ls.dont_care_value}"
    )
    for v, n, c in ls.paintable():
        print(f"  {v:>4}  {n:<24} #{c[0]:02x}{c[1]:02x}{c[2]:02x}")
    for key in ("provenance", "metrics"):
        if doc.get(key):
            print(f"{key:<10} {json.dumps(doc[key], indent=None)}")
    if doc.get("licence"):
        print(f"licence    {doc['licence']}")
    return 0


COMMANDS = {"generate": cmd_generate, "segment": cmd_segment, "convert-official": cmd_convert, "info": cmd_info}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = COMMANDS[args.command](args)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at the interpreter's exit
        return status
    except (CheckpointError, ImageReadError, LabelError, UsageError) as exc:
        print(f"oasis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"oasis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except WriteError as exc:
        print(f"oasis {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"oasis {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`oasis info M | head -1`): stop quietly, as tools killed by SIGPIPE do; stdout is
        # pointed at devnull so that the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
