"""A fast, faithful inference path for the OASIS generator (eval mode, folded weights): each distinct SPADE input
neighbourhood is computed once and the maps are filled with row gathers; nothing is approximated. The design, and
where each part lives, is in docs/fast-path.md."""

from oasis_core.fast.generator import FastGenerator, fast_supported
from oasis_core.fast.layout import NoiseLayout, analyse_noise

__all__ = ["FastGenerator", "NoiseLayout", "analyse_noise", "fast_supported"]
