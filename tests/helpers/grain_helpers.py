"""Small generators, fields and label maps the grain tests share (``tests/oasis_core/test_grain.py`` and
``test_output_grain.py``)."""

from __future__ import annotations

import torch

from oasis_core.config import GeneratorConfig
from oasis_core.nn import Generator
from oasis_core.noise import NoiseField


def grain_field(size: int = 64, z: int = 8) -> NoiseField:
    """A field of a few vectors: seed 3 with a box rerolled (seed 4, strength 0.7, 8-px soft edge)."""
    box = torch.zeros(size, size, dtype=torch.bool)
    box[size // 4 : size // 2, size // 8 : size // 2] = True
    return NoiseField.sample(z, size, size, 3).reroll(box, 4, 0.7, 8)


def grain_labels(size: int = 64) -> torch.Tensor:
    """Channels 0-4 in 8x8 cells."""
    lab = torch.randint(0, 5, (size // 8, size // 8), generator=torch.Generator().manual_seed(1))
    return lab.repeat_interleave(8, 0).repeat_interleave(8, 1)


def grain_generator(
    grain_levels: int,
    upsample: str = "bilinear",
    weight: float = 1.0,
    gain: float = 1.0,
    output_grain: bool = False,
    amplitude=None,
) -> Generator:
    """A 5-class generator in eval mode with BN statistics that are not the identity: conv weights at ``gain``,
    block grain weights N(0, ``weight``), output grain amplitudes ``amplitude`` (5, 3) when given."""
    cfg = GeneratorConfig(semantic_nc=5, ch=4, spade_hidden=8, z_dim=8, multipliers=(4, 4, 2, 1), upsample=upsample,
                          grain_levels=grain_levels, output_grain=output_grain)  # fmt: skip
    torch.manual_seed(0)
    g = Generator(cfg, spectral_norm=False)
    g.init_weights(gain)
    with torch.no_grad():
        for name, buf in g.named_buffers():
            if name.endswith("running_var"):
                buf.uniform_(0.5, 2.0)
        for b in g.body:
            if b.grain_weight is not None:
                b.grain_weight.normal_(0, weight)
        if output_grain and amplitude is not None:
            g.grain_rgb.copy_(torch.as_tensor(amplitude, dtype=torch.float32))
    return g.eval()


def assert_fast_path_matches(g: Generator) -> None:
    """The fast path gives the eager generator's images for a batch of two fields: planned, with its cached grain,
    from dense noise, and for a new batch (whose grain is not the cached one)."""
    import torch.nn.functional as F

    from oasis_core.fast import FastGenerator, NoiseLayout

    lab = grain_labels()
    fields = [grain_field(), NoiseField.sample(8, 64, 64, 9)]
    onehot = F.one_hot(lab, 5).permute(2, 0, 1)[None].float().expand(2, -1, -1, -1)
    with torch.no_grad():
        want = g(onehot, torch.stack([f.dense() for f in fields]))
    fast = FastGenerator(g)
    layout = NoiseLayout.of_fields(fields)
    for noise in (layout, layout, torch.stack([f.dense() for f in fields])):  # planned, cached grain, dense input
        torch.testing.assert_close(fast(lab, noise), want, atol=2e-5, rtol=1e-4)
    one = fast(lab, NoiseLayout.of_fields(fields[1:]))  # a new batch: the cached grain is not reused
    torch.testing.assert_close(one, want[1:], atol=2e-5, rtol=1e-4)


def training_inputs(field: NoiseField, labels: torch.Tensor):
    """The training loop's ids-and-codes input for one field and label map (one code per region and class), and
    the dense one-hot map: ``(SegCodes, onehot (1, 5, H, W))``."""
    import torch.nn.functional as F

    from oasis_core.nn.grouped import SegCodes

    region = field.id_map()
    codes = torch.cat((field.vectors.repeat_interleave(5, 0), torch.eye(5).repeat(field.num_vectors, 1)), 1)
    seg = SegCodes((region * 5 + labels)[None].contiguous(), codes[None])
    return seg, F.one_hot(labels, 5).permute(2, 0, 1)[None].float()
