"""The scene document and its files: everything the app knows about a scene, with numpy only (no Qt, no torch).

- ``scene``: the label map, its edits and undo, the selection; ``recipe``: style seed and reroll regions (the
  noise); ``history``: the images made so far; ``photo``: the photo layer of an imported photo.
- ``tools``: what brushes, fills and lassos write into a scene.
- ``project_file`` (``.oasis`` projects), ``label_io`` (label PNGs and image exports), ``model_info`` (a model's
  classes as the GUI sees them).
"""

from app.doc.history import MAX_HISTORY, HistoryEntry
from app.doc.photo import PhotoReference, cleanup_parameters, keep_user_edits
from app.doc.recipe import (
    DEFAULT_FEATHER,
    DEFAULT_RAMP,
    FEATHER_RAMPS,
    MAX_FEATHER,
    MAX_SEED,
    NoiseRecipe,
    RerollRegion,
    labels_digest,
    random_seed,
)
from app.doc.scene import MAX_UNDO, TILE, BBox, Scene, union_bbox

__all__ = [
    "DEFAULT_FEATHER",
    "DEFAULT_RAMP",
    "FEATHER_RAMPS",
    "MAX_FEATHER",
    "MAX_HISTORY",
    "MAX_SEED",
    "MAX_UNDO",
    "TILE",
    "BBox",
    "HistoryEntry",
    "NoiseRecipe",
    "PhotoReference",
    "RerollRegion",
    "Scene",
    "cleanup_parameters",
    "keep_user_edits",
    "labels_digest",
    "random_seed",
    "union_bbox",
]
