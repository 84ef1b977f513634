"""Folder datasets: users' own data, and CamVid, CMP facades and the landscapes set, which share its layout.

Layout::

    <root>/train/images/<name>.{jpg,jpeg,png,webp}   photos (any Pillow-readable colour mode; converted to RGB)
    <root>/train/labels/<name>.png                   class ids: grayscale (8 or 16 bit) or indexed (palette) PNG
    <root>/val/images/...  <root>/val/labels/...      the same for the validation split
    <root>/classes.txt                               the classes (generic folder only)

Images and label maps pair up by file name without extension; an image without a label map (or the reverse) is an
error naming the file. For a palette PNG the *index* is the class id (the palette colours are ignored).

``classes.txt``: one class a line, ``#`` starts a comment, blank lines are ignored::

    <value> <name> [<r> <g> <b>] [dontcare]

- ``value``: the id of the class in the label PNGs, 0..65535, each at most once.
- ``name``: the class name; it may contain spaces.
- ``r g b``: optional display colour, three integers 0..255 (the last three words of a line are read as a colour
  when all three are integers). Classes without one get a generated, well separated colour
  (``oasis_core.labels.distinct_colours``); the don't-care class defaults to black.
- ``dontcare`` (or ``ignore``) as the last word marks the don't-care class: pixels that carry no class and get zero
  weight in the losses. At most one line may have it. When no line has it, a class named ``void``, ``unlabeled``,
  ``unlabelled``, ``dontcare`` or ``ignore`` is the don't-care class; with none of these, every pixel is labelled
  and there is no don't-care channel.

Example::

    # CamVid-like
    11 void dontcare
    0 sky 128 128 128
    1 building 128 0 0
    3 road 128 64 128
    8 car

Channels: the don't-care class (if any) is channel 0, as in OASIS; the other classes follow in file order. Label
values not listed in ``classes.txt`` are an error naming the label file.
"""

from __future__ import annotations

from pathlib import Path

from oasis_core.labels import LabelSpace, distinct_colours

from .base import DatasetError, PairedDataset

CLASSES_FILE = "classes.txt"
DONT_CARE_FLAGS = ("dontcare", "ignore")
DONT_CARE_NAMES = ("void", "unlabeled", "unlabelled", "dontcare", "ignore")


def _parse_int(tok: str, lo: int, hi: int) -> int | None:
    try:
        v = int(tok)
    except ValueError:
        return None
    return v if lo <= v <= hi else None


def parse_classes(text: str, source: str = CLASSES_FILE, name: str = "folder") -> LabelSpace:
    """Build a label space from the text of a ``classes.txt`` (format in the module docstring)."""
    rows: list[tuple[int, str, tuple[int, int, int] | None, bool]] = []
    seen: dict[int, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{lineno}"
        toks = line.split()
        value = _parse_int(toks[0], 0, 65535)
        if value is None:
            raise DatasetError(f"{where}: {toks[0]!r} is not a class value (an integer 0..65535); line: {raw!r}")
        if value in seen:
            raise DatasetError(f"{where}: value {value} is already used on line {seen[value]}")
        seen[value] = lineno
        rest = toks[1:]
        flagged = bool(rest) and rest[-1].lower() in DONT_CARE_FLAGS and len(rest) > 1
        if flagged:
            rest = rest[:-1]
        colour = None
        if len(rest) >= 4 and all(_parse_int(t, -(2**31), 2**31) is not None for t in rest[-3:]):
            rgb = [int(t) for t in rest[-3:]]
            if any(not 0 <= c <= 255 for c in rgb):
                raise DatasetError(f"{where}: colour {rgb} is not an RGB triple in 0..255")
            colour = (rgb[0], rgb[1], rgb[2])
            rest = rest[:-3]
        if not rest:
            raise DatasetError(f"{where}: class {value} has no name; line: {raw!r}")
        rows.append((value, " ".join(rest), colour, flagged))
    if not rows:
        raise DatasetError(f"{source}: no classes found (expected lines '<value> <name> [<r> <g> <b>] [dontcare]')")

    flagged_rows = [i for i, r in enumerate(rows) if r[3]]
    if len(flagged_rows) > 1:
        vals = ", ".join(str(rows[i][0]) for i in flagged_rows)
        raise DatasetError(f"{source}: more than one don't-care class (values {vals}); mark at most one")
    if flagged_rows:
        dc = flagged_rows[0]
    else:
        named = [i for i, r in enumerate(rows) if r[1].lower().replace("'", "").replace(" ", "") in DONT_CARE_NAMES]
        if len(named) > 1:
            vals = ", ".join(f"{rows[i][0]} {rows[i][1]}" for i in named)
            raise DatasetError(
                f"{source}: several classes look like don't care ({vals}); mark the right one with 'dontcare'"
            )
        dc = named[0] if named else None

    order = ([dc] if dc is not None else []) + [i for i in range(len(rows)) if i != dc]
    generated = iter(distinct_colours(len(rows), seed=3))
    colours = []
    for i in order:
        c = rows[i][2]
        if c is None:
            c = (0, 0, 0) if i == dc else next(generated)
        colours.append(c)
    try:
        return LabelSpace(
            name=name,
            names=tuple(rows[i][1] for i in order),
            colours=tuple(colours),
            file_values=tuple(rows[i][0] for i in order),
            dont_care=0 if dc is not None else None,
        )
    except ValueError as exc:
        raise DatasetError(f"{source}: {exc}") from exc


def read_classes(path: str | Path, name: str | None = None) -> LabelSpace:
    """Read a ``classes.txt`` into a label space (named after its folder unless ``name`` is given)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(
            f"{path}: class file not found; a folder dataset needs one line per class: "
            "'<value> <name> [<r> <g> <b>] [dontcare]'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read class file ({exc})") from exc
    return parse_classes(text, str(path), name or path.resolve().parent.name or "folder")


class FolderDataset(PairedDataset):
    """Users' own data: ``<root>/{train,val}/{images,labels}/`` and ``<root>/classes.txt``."""

    dataset_name = "folder"
    label_space_name = None

    @classmethod
    def default_label_space(cls, root: str | Path) -> LabelSpace:
        if cls.label_space_name is not None:
            return super().default_label_space(root)
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset root does not exist or is not a folder")
        return read_classes(root / CLASSES_FILE)

    @classmethod
    def split_dirs(cls, root: Path, split: str) -> tuple[Path, Path]:
        return root / split / "images", root / split / "labels"


class CamVid(FolderDataset):
    """CamVid (SegNet 11 classes): ids 0..10 -> channels 1..11, void 11 -> channel 0."""

    dataset_name = "camvid"
    label_space_name = "camvid"


class Facades(FolderDataset):
    """CMP facades: indexed PNG ids 1..12 -> channels 1..12 (channel 0 = unlabeled, absent from the data)."""

    dataset_name = "facades"
    label_space_name = "facades"


class Landscapes(FolderDataset):
    """The procedurally generated landscapes (folder layout, built-in ``landscapes`` label space)."""

    dataset_name = "landscapes"
    label_space_name = "landscapes"
