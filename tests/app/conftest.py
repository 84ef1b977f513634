"""The app's tests draw fresh seeds (new scenes, photo imports, rerolls) from a seeded generator, so every run of a
test sees the same noise: a test's outcome must not depend on which seeds the operating system handed out."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def seeded_fresh_seeds(monkeypatch):
    from app.doc import recipe

    monkeypatch.setattr(recipe, "SEED_SOURCE", np.random.default_rng(20261206))
