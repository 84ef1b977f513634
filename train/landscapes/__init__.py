"""Procedurally rendered landscapes whose label map is exact: the training data of the bundled landscapes model.

Every scene is drawn layer by layer (sky, clouds, mountain ranges, hills, the ground plane with meadows, paths,
lakes and shores, trees, rocks, water reflections); every layer writes its class into the label map as it writes
colour, so each pixel's label is exactly what was painted there. Surfaces are textured with the GPL-2+ tiles in
``../shared/data/textures`` (Extreme Tux Racer and Scorched3D game data); ground textures are sampled through a
ground-plane projection with mip-mapping, so their scale shrinks toward the horizon. Labels use
:func:`oasis_core.labels.landscapes` (file values 0..9 = sky, cloud, mountain, rock, snow, water, grass, sand, tree,
dirt). Pure numpy + Pillow, deterministic per seed (one ``numpy.random.default_rng``).

The modules: ``textures`` (tiles by role, mip-mapped sampling), ``shapes`` (noise tiles, ridges, colour jitter),
``frame`` (the state every layer shares: the scene plan and the image, label and distance buffers), the layers
``sky``, ``terrain``, ``ground`` (and water), ``objects`` (trees, rocks), ``render`` (the layers in order, the colour
grade) and ``dataset`` (writing the dataset folder). Loading the rendered dataset for training is
``train.data.folder.Landscapes``.
"""

from train.landscapes.dataset import classes_txt, copy_licences, is_val, make_sample_sheet, write_dataset
from train.landscapes.frame import LABEL_SPACE, Frame
from train.landscapes.render import Renderer, render_scene
from train.landscapes.textures import POOLS, Texture, TextureBank, default_bank, default_textures_root

__all__ = [
    "LABEL_SPACE",
    "POOLS",
    "Frame",
    "Renderer",
    "Texture",
    "TextureBank",
    "classes_txt",
    "copy_licences",
    "default_bank",
    "default_textures_root",
    "is_val",
    "make_sample_sheet",
    "render_scene",
    "write_dataset",
]
