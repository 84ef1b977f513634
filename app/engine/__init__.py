"""The adapter between the GUI and the model: the only part of the app that imports torch and the model parts of
``oasis_core`` (the import contracts in pyproject.toml check it).

- ``models``: a loaded model described as a ``ModelInfo``; the devices and dtypes offered.
- ``results``: the plain results that come back to the GUI.
- ``worker``: the ``Engine`` and its worker thread, which runs every model job in order.
"""

from app.engine.models import (
    available_devices,
    available_dtypes,
    describe,
    runtime_description,
)
from app.engine.results import GenerationResult, PhotoImport, WorstRegions
from app.engine.worker import REPLACEABLE, TASKS, Engine, NoiseFields

__all__ = [
    "REPLACEABLE",
    "TASKS",
    "Engine",
    "GenerationResult",
    "NoiseFields",
    "PhotoImport",
    "WorstRegions",
    "available_devices",
    "available_dtypes",
    "describe",
    "runtime_description",
]
