"""Network configurations: frozen dataclasses with the paper's values as defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

NORMS = ("batch", "instance", "syncbatch")
UPSAMPLING = ("nearest", "bilinear")


@dataclass(frozen=True)
class GeneratorConfig:
    """OASIS generator. ``semantic_nc`` counts one-hot label channels (don't care included).

    Block widths are ``ch * multipliers``; the paper uses ch=64, SPADE hidden 128, 64 noise channels. The latent
    grid is the output size / 2**(len(multipliers)-2) (= /32 for the paper's six blocks). ``upsample``: how the
    trunk doubles its resolution between blocks: the paper's nearest neighbour, or bilinear (an ablation of the
    model-quality work: nearest turns the coarse levels' slow changes into 8- and 16-pixel steps).
    ``grain_levels``: how many of the last blocks also take per-pixel grain (:func:`oasis_core.noise.grain`, a
    function of the noise field) at their input, scaled per channel by a learned weight (zero at the start); 0 is
    the paper's generator. ``output_grain``: three more channels of that grain added to the image before the final
    tanh, scaled by an amplitude per class and colour channel (a buffer that training estimates from data): the
    pixel-level sensor noise of real images, which the last convolution (3x3, over features that vary smoothly
    inside a region) cannot make. False is the paper's generator.
    """

    semantic_nc: int
    ch: int = 64
    spade_hidden: int = 128
    z_dim: int = 64
    norm: str = "batch"
    aspect_ratio: float = 1.0
    multipliers: tuple[int, ...] = (16, 16, 16, 8, 4, 2, 1)
    upsample: str = "nearest"
    grain_levels: int = 0
    output_grain: bool = False

    def __post_init__(self) -> None:
        if self.semantic_nc < 1 or self.ch < 1 or self.spade_hidden < 1 or self.z_dim < 0:
            raise ValueError(f"invalid generator config: {self}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {UPSAMPLING}, got {self.upsample!r}")
        if len(self.multipliers) < 2:
            raise ValueError("the generator needs at least two width multipliers (one block)")
        object.__setattr__(self, "multipliers", tuple(int(m) for m in self.multipliers))
        if isinstance(self.grain_levels, bool) or not isinstance(self.grain_levels, int):
            raise ValueError(f"grain_levels must be an int, got {self.grain_levels!r}")
        if self.grain_levels and not self.z_dim:
            raise ValueError("grain needs noise vectors to draw it from (z_dim > 0)")
        if not 0 <= self.grain_levels <= len(self.multipliers) - 1:
            blocks = len(self.multipliers) - 1
            raise ValueError(f"grain_levels must be 0 to {blocks} (the number of blocks), got {self.grain_levels}")
        if not isinstance(self.output_grain, bool):
            raise ValueError(f"output_grain must be true or false, got {self.output_grain!r}")
        if self.output_grain and not self.z_dim:
            raise ValueError("output grain needs noise vectors to draw it from (z_dim > 0)")

    @property
    def first_grain_block(self) -> int:
        """Index of the first block that takes grain (the number of blocks when none does)."""
        return len(self.multipliers) - 1 - self.grain_levels

    @property
    def grain_channels(self) -> int:
        """Channels of :func:`oasis_core.noise.grain` the generator takes: channel 0 for its blocks, 1-3 for the
        output (0 without grain)."""
        return 4 if self.output_grain else (1 if self.grain_levels else 0)

    @property
    def widths(self) -> list[int]:
        return [self.ch * m for m in self.multipliers]

    @property
    def downscale(self) -> int:
        """Output size / latent size: one nearest x2 upsample after every block but the last."""
        return 2 ** (len(self.multipliers) - 2)

    @property
    def input_nc(self) -> int:
        return self.semantic_nc + self.z_dim

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["multipliers"] = list(self.multipliers)
        if self.upsample == "nearest":
            del d["upsample"]  # the paper's: model files stay as they were (older readers know every field)
        if not self.grain_levels:
            del d["grain_levels"]
        if not self.output_grain:
            del d["output_grain"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator config fields: {sorted(unknown)}")
        d = dict(d)
        if "multipliers" in d:
            d["multipliers"] = tuple(d["multipliers"])
        return cls(**d)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """OASIS U-Net discriminator: ``channels`` is the encoder width list starting at the 3 image channels."""

    semantic_nc: int
    channels: tuple[int, ...] = (3, 128, 128, 256, 256, 512, 512)

    def __post_init__(self) -> None:
        if self.semantic_nc < 1:
            raise ValueError(f"invalid discriminator config: {self}")
        if len(self.channels) < 3 or self.channels[0] != 3:
            raise ValueError("discriminator channels must start with 3 (RGB) and have at least two blocks")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @property
    def output_nc(self) -> int:
        """One "fake" channel plus one per label channel."""
        return self.semantic_nc + 1

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.channels) - 1)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DiscriminatorConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown discriminator config fields: {sorted(unknown)}")
        d = dict(d)
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d)


# semantic_nc of the paper's datasets (OASIS.md)
PAPER_SEMANTIC_NC = {"ade20k": 151, "cityscapes": 35, "coco": 183}


def paper_configs(dataset: str) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The paper's generator and discriminator for one of its datasets."""
    key = {"coco_stuff": "coco"}.get(dataset, dataset)
    if key not in PAPER_SEMANTIC_NC:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(PAPER_SEMANTIC_NC)}")
    nc = PAPER_SEMANTIC_NC[key]
    aspect = 2.0 if key == "cityscapes" else 1.0
    return GeneratorConfig(semantic_nc=nc, aspect_ratio=aspect), DiscriminatorConfig(semantic_nc=nc)
