"""The OASIS networks: parameter counts and state-dict layout of the paper configs, shapes, noise as an input."""

from __future__ import annotations

import functools
import json

import pytest
import torch
import torch.nn.functional as F

from oasis_core import noise as noise_ops
from oasis_core.config import DiscriminatorConfig, GeneratorConfig, paper_configs
from oasis_core.nn import Discriminator, Generator, fold_spectral_norm, from_official_keys, to_official_keys


@functools.cache
def _meta_networks(dataset: str) -> tuple[Generator, Discriminator]:
    """The paper's networks (spectral norm included) without memory for weights; built once per dataset."""
    gcfg, dcfg = paper_configs(dataset)
    with torch.device("meta"):
        return Generator(gcfg), Discriminator(dcfg)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("dataset", "expected"), [("ade20k", 74_314_691), ("cityscapes", 71_107_523), ("coco", 75_199_427)]
)
def test_generator_parameter_counts_match_the_paper(dataset: str, expected: int) -> None:
    g, _ = _meta_networks(dataset)
    assert _count(g) == expected


def test_discriminator_parameter_count_matches_the_paper() -> None:
    _, d = _meta_networks("ade20k")
    assert _count(d) == 22_258_904


def test_noise_adds_exactly_the_documented_parameters() -> None:
    gcfg, _ = paper_configs("ade20k")
    with torch.device("meta"):
        # plain convolutions hold the same parameters as spectral-norm ones (weight vs. original)
        without = Generator(GeneratorConfig(semantic_nc=gcfg.semantic_nc, z_dim=0), spectral_norm=False)
    assert _count(without) == 72_545_219
    assert _count(_meta_networks("ade20k")[0]) - _count(without) == 1_769_472


@pytest.mark.parametrize("dataset", ["ade20k", "cityscapes"])
@pytest.mark.parametrize("which", ["G", "D"])
def test_state_dict_matches_the_official_manifest(reference_dir, dataset: str, which: str) -> None:
    g, d = _meta_networks(dataset)
    module = g if which == "G" else d
    ours = [(k, list(v.shape)) for k, v in to_official_keys(module.state_dict()).items()]
    manifest = json.loads((reference_dir / f"official_{dataset}_{which}.json").read_text())
    assert ours == [(k, list(s)) for k, s in manifest.items()]  # same keys, same order, same shapes


def test_official_key_conversion_round_trips() -> None:
    g, _ = _meta_networks("ade20k")
    state = g.state_dict()
    official = to_official_keys(state)
    assert any(k.endswith(".weight_orig") for k in official)
    assert not any("parametrizations" in k for k in official)
    assert list(from_official_keys(official)) == list(state)


def test_folded_spectral_norm_equals_eval_mode_spectral_norm(tiny_configs) -> None:
    gcfg, dcfg, _ = tiny_configs
    torch.manual_seed(0)
    d_sn = Discriminator(dcfg, spectral_norm=True)
    d_sn.train()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        for _ in range(3):  # let the power iteration move u, v away from their initial values
            d_sn(x)
    d_sn.eval()
    d_plain = Discriminator(dcfg, spectral_norm=False).eval()
    d_plain.load_state_dict(fold_spectral_norm(d_sn.state_dict()))
    with torch.no_grad():
        torch.testing.assert_close(d_plain(x), d_sn(x), rtol=1e-5, atol=1e-5)


def test_output_shapes(tiny_networks, tiny_configs) -> None:
    g, d = tiny_networks
    gcfg, dcfg, _ = tiny_configs
    labels = torch.randint(0, gcfg.semantic_nc, (2, 64, 128), generator=torch.Generator().manual_seed(0))
    onehot = F.one_hot(labels, gcfg.semantic_nc).permute(0, 3, 1, 2).float()
    z = noise_ops.replicate(noise_ops.sample_vectors(2, gcfg.z_dim, 0), 64, 128)
    with torch.no_grad():
        img = g(onehot, z)
        logits = d(img[:, :, :, :64])
    assert img.shape == (2, 3, 64, 128)
    assert img.abs().max() <= 1
    assert logits.shape == (2, dcfg.output_nc, 64, 64)


def test_per_pixel_noise_is_used(tiny_networks, tiny_configs) -> None:
    """Noise is a real input: changing it in one half of the field changes that half of the image."""
    g, _ = tiny_networks
    gcfg, _, _ = tiny_configs
    onehot = F.one_hot(torch.full((1, 64, 64), 3), gcfg.semantic_nc).permute(0, 3, 1, 2).float()
    z = noise_ops.sample_field(gcfg.z_dim, 64, 64, seed=1)[None]
    z2 = z.clone()
    z2[..., :, 32:] = noise_ops.sample_vector(gcfg.z_dim, seed=2)[:, None, None]
    with torch.no_grad():
        a, b = g(onehot, z), g(onehot, z2)
    assert (a - b).abs().max() > 0.05


def test_generator_refuses_sizes_it_cannot_take(tiny_networks, tiny_configs) -> None:
    g, d = tiny_networks
    gcfg, _, _ = tiny_configs
    onehot = torch.zeros(1, gcfg.semantic_nc, 48, 64)
    with pytest.raises(ValueError, match="multiples of 32"):
        g(onehot, torch.zeros(1, gcfg.z_dim, 48, 64))
    with pytest.raises(ValueError, match="noise must be"):
        g(torch.zeros(1, gcfg.semantic_nc, 64, 64), torch.zeros(1, gcfg.z_dim, 32, 32))
    with pytest.raises(ValueError, match="multiples of 64"):
        d(torch.zeros(1, 3, 32, 64))


def test_configs_round_trip_through_dicts() -> None:
    gcfg, dcfg = paper_configs("cityscapes")
    assert GeneratorConfig.from_dict(json.loads(json.dumps(gcfg.to_dict()))) == gcfg
    assert DiscriminatorConfig.from_dict(json.loads(json.dumps(dcfg.to_dict()))) == dcfg
    assert gcfg.aspect_ratio == 2.0 and gcfg.input_nc == 99 and dcfg.output_nc == 36
    with pytest.raises(ValueError, match="unknown generator config fields"):
        GeneratorConfig.from_dict({**gcfg.to_dict(), "bogus": 1})
