"""Training configuration: one frozen dataclass, per-dataset presets from the paper, lite presets for CPUs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# Paper values (OASIS.md): learning rates, LabelMix weight, EMA decay. Lite presets shrink the widths for CPU
# training and interactive CPU inference; "lite" = ch 16, SPADE hidden 32, discriminator widths / 4.
_PAPER = dict(lr_g=1e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.9999, ch=64, spade_hidden=128)
# The lite presets also depart from the paper's initialisation and add gradient clipping, both measured here: with
# xavier gain 0.02 an Adam step (lr 4e-4) is a ~30% change of each spectral-norm weight, the one power iteration per
# step cannot follow, sigma is underestimated, D's logits explode within ~20 steps (gradient norm 4e6), and Adam's
# second moment then keeps D's weights frozen for thousands of steps (D stays a per-class bias: d_real = ln 2 + ln N).
_LITE = dict(
    lr_g=2e-4, lr_d=4e-4, lambda_labelmix=10.0, ema_decay=0.999, reuse_fake=True,
    init_gain_d=1.0, grad_clip_g=10.0, grad_clip_d=10.0,
)  # fmt: skip
PRESETS: dict[str, dict] = {
    "ade20k": _PAPER,
    "coco": _PAPER,
    "cityscapes": {**_PAPER, "lr_g": 4e-4, "lambda_labelmix": 5.0, "ema_decay": 0.999},
    "lite": {**_LITE, "ch": 16, "spade_hidden": 32, "d_channels": (3, 32, 32, 64, 64, 128, 128)},
    "lite32": {**_LITE, "ch": 32, "spade_hidden": 64, "d_channels": (3, 64, 64, 128, 128, 256, 256)},
    "tiny": {
        **_LITE,
        "ema_decay": 0.99,
        "ch": 4,
        "spade_hidden": 8,
        "z_dim": 8,
        "d_channels": (3, 8, 8, 16, 16, 32, 32),
    },
}


COMPILE_CHOICES = ("off", "d", "all")  # TrainConfig.compile
MIXED_NOISE_SHAPES = ("class", "ellipse", "box")  # TrainConfig.mixed_noise_shapes
DIVERSITY_FAR = 16  # px: TrainConfig.diversity_leak penalises change farther than this outside a rerolled region


@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    data: str
    run_dir: str
    preset: str = "lite"
    size: tuple[int, int] = (256, 256)
    load_size: tuple[int, int] | None = None
    batch: int = 8
    iters: int = 1000
    seed: int = 0
    # optimisation (paper: Adam betas (0, 0.999), no schedule, no weight decay)
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.999
    lambda_labelmix: float = 10.0
    ema_decay: float = 0.9999
    grad_clip_g: float | None = None  # global gradient-norm clipping (not in the paper; the lite presets use it)
    grad_clip_d: float | None = None
    # diversity-sensitive term (Yang et al., ICLR 2019; not in OASIS): G also maximises
    # min(mean |G(s, z1) - G(s, z2)| / mean |z1 - z2|, diversity_cap) on half of each batch, weighted by
    # lambda_diversity (0: off, the paper). A second noise draw for half the batch costs about a quarter more per step,
    # and G's batch norm then sees 1.5x the batch (half of it twice). For scale: the ratio is about 0.01 at the start
    # and 0.08 for the CamVid lite model at 5,400 steps (MS-SSIM 0.74); the term outweighs the adversarial loss early
    # on unless lambda is small (0.1-1), so it suits a run that already trains well.
    lambda_diversity: float = 0.0
    diversity_cap: float = 0.25
    # the term's second draw as a reroll (session 17; not in Yang et al.): instead of a new noise field, the first
    # draw with a region rerolled (the shapes and soft border of mixed noise), and the ratio measured inside the
    # region (the noise changed there), so G learns that a reroll visibly redraws its region. diversity_leak weighs
    # a penalty on the change more than DIVERSITY_FAR px outside the region, in the same unit (what a reroll should
    # leave alone). False: the independent second draw of the original term.
    diversity_reroll: bool = False
    diversity_leak: float = 0.0
    # mixed noise fields (not in OASIS, which draws one vector per image): this fraction of the images of each batch
    # gets a second noise vector inside a random region, either one class of its label map or an ellipse, as an
    # app reroll makes it (per class, or a lasso). G then learns the fields rerolls produce, instead of meeting them
    # first at inference (where a rerolled region comes out as a colour cast with visible edges). 0: off.
    mixed_noise: float = 0.0
    # the second vector fades in over this many px from the region's edge, in the steps of the app's soft reroll
    # edges (oasis_core.noise.feather_rings); 0: a hard edge
    mixed_noise_feather: int = 0
    # the region shapes mixed noise draws from, each equally often: "class" (one class of the label map, a per-class
    # reroll), "ellipse" (a lasso), "box" (the app's box reroll, and the reroll seam measure's shape)
    mixed_noise_shapes: tuple[str, ...] = ("class", "ellipse")
    init_gain_g: float = 0.02  # xavier-normal gain of the initial conv weights (paper: 0.02 for both)
    init_gain_d: float = 0.02
    # networks
    ch: int = 64
    spade_hidden: int = 128
    z_dim: int = 64
    norm: str = "batch"
    d_channels: tuple[int, ...] = (3, 128, 128, 256, 256, 512, 512)
    # the generator's block widths as multiples of ch, lowest level first (None: the paper's 16,16,16,8,4,2,1);
    # e.g. 16,16,16,8,4,3,2 widens the two full-resolution blocks (a warm start grows a smaller file's weights)
    g_multipliers: tuple[int, ...] | None = None
    g_upsample: str = "nearest"  # nearest (the paper's) | bilinear: the generator's x2 between blocks
    g_grain: int = 0  # the generator's last blocks that take per-pixel grain (oasis_core.noise.grain; paper: 0)
    g_grain_lr: float = 1.0  # the grain weights' learning rate as a multiple of lr_g
    # per-class output grain (GeneratorConfig.output_grain: the images' sensor noise; paper: off); its amplitudes
    # are estimated from the training images (train.grain), not learned
    g_grain_out: bool = False
    # how the output grain's amplitudes are estimated (train.grain): "noise", the real images' pixel noise (a robust
    # wavelet estimate); "energy", all the high-pass energy the generated images lack
    g_grain_fit: str = "noise"
    # speed
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    channels_last: bool = True
    reuse_fake: bool = False  # D step reuses the G step's (detached) fake instead of generating again
    # with reuse_fake: D's output on the fake is computed once, in the G step, and the D step's loss reuses it (its
    # graph is kept), so D runs on 2 of 3 image sets there instead of all 3 (8-10% less per lite step). The same
    # losses and gradients; only spectral norm differs: the fake's logits use the G step call's power iteration,
    # the real and LabelMix ones the D step's (one iteration per D call either way). False, or D compiled: D sees
    # the fake again
    reuse_fake_logits: bool = True
    # the generator's SPADEs computed once per distinct label/noise neighbourhood on large levels
    # (oasis_core.nn.grouped; the same function, about 2x faster G steps); False: dense convolutions
    grouped_spade: bool = True
    # the discriminator's resampling steps folded into its convolutions (stride-2 and transposed stride-2, see
    # oasis_core.nn.discriminator.DResBlock; the same function with 4/9 of their multiply-adds); False: literal order
    fast_resample: bool = True
    # torch.compile (Inductor) of the networks' training forward and backward: off | d | all (G and D). Not a
    # default: on this project's 2-core CPU a compiled D step is slower (1.82 s/it against 1.53 s/it eager, lite
    # 128x128 batch 8, after about 150 s of compiling); benchmarks/bench_train.py --compile measures it anywhere
    compile: str = "off"
    device: str = "auto"
    workers: int = 2
    # bookkeeping
    log_every: int = 10
    sample_every: int = 250
    save_every: int = 100
    save_minutes: float = 0.0  # also save when this many minutes have passed since the last save (0: off)
    check_every: int = 100
    bn_refresh_batches: int = 50
    max_bad_steps: int = 20
    notes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["size"] = list(self.size)
        d["load_size"] = list(self.load_size) if self.load_size else None
        d["d_channels"] = list(self.d_channels)
        d["mixed_noise_shapes"] = list(self.mixed_noise_shapes)
        d["g_multipliers"] = list(self.g_multipliers) if self.g_multipliers else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["size"] = tuple(d["size"])
        if d.get("load_size"):
            d["load_size"] = tuple(d["load_size"])
        d["d_channels"] = tuple(d["d_channels"])
        if d.get("mixed_noise_shapes"):
            d["mixed_noise_shapes"] = tuple(d["mixed_noise_shapes"])
        if d.get("g_multipliers"):
            d["g_multipliers"] = tuple(d["g_multipliers"])
        if d.get("g_grain_out") and "g_grain_fit" not in d:
            d["g_grain_fit"] = "energy"  # runs from before the choice: evaluated and exported as they were trained
        return cls(**d)

    def replace(self, **kw) -> TrainConfig:
        return dataclasses.replace(self, **kw)


def make_config(preset: str, **overrides) -> TrainConfig:
    """Preset values first, then explicit overrides (None means: keep the preset's value)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(preset=preset, **values)
