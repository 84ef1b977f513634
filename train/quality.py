"""Image-quality measures of generated images against real ones, each to be read against its real-vs-real floor.

All functions take numpy arrays: images ``(N, H, W, 3)`` uint8 RGB, label maps ``(N, H, W)`` of label channels.

1. :func:`colour_distance`: per class, the LAB colours of that class's pixels in one set against the other; earth
   mover's distance per LAB channel (1-D Wasserstein distance of the pixel samples, in LAB units), averaged over
   the channels and over the classes with enough pixels in both sets (the OASIS paper's colour measure, with the
   3-D histogram distance replaced by per-channel ones).
2. :func:`texture_distance`: per class, uniform local-binary-pattern histograms (8 neighbours, radius 1) of the grey
   image over pixels whose 3x3 neighbourhood lies in the class; chi-squared distance of each image's histogram to
   the other set's pooled histogram of that class, averaged over images and classes. (Pooled against pooled has a
   floor near zero and cannot tell good from bad images.)
3. :func:`streaks`: per image and class region (eroded 3 px, at least 400 px), the grey image averaged over rows
   into a column profile and over columns into a row profile; the RMS of each profile's first difference; the
   median over regions. Stripes along columns or rows raise it; texture that is not aligned averages out.
4. :func:`seam_measures`: an image before and after a region of its noise was rerolled: the mean gradient magnitude
   on a 2-px band along the region's edge (where the class does not change within 3 px), divided by the mean
   gradient of the same classes away from the edge (1.0: no visible seam), and the mean CIE76 colour difference
   inside the region, just outside it (2-8 px) and far outside it (more than 32 px).
Also :func:`clipped`: the share of pixels blown out to white (every channel at 250 or more) or crushed to black
(every channel at 5 or less), whose detail the 8-bit image has lost: a generator that pushes a class to an extreme
(a white sky, black trees) raises it, while the set-pooled colour distance barely moves (a few images' sky at 255
is a small shift of the pooled sky colours). The painted scenes (measure 5 of the model card) are train/painted.py.

What they cannot see is written down in resources/models/README.md.
"""

from __future__ import annotations

import numpy as np

MIN_CLASS_PIXELS = 500  # colour / texture: classes with fewer pixels in either set are skipped
MIN_REGION_PIXELS = 400  # streaks: smaller (eroded) regions are skipped
MAX_SAMPLES = 20_000  # colour: pixels drawn per class and set (the Wasserstein distance of larger samples is slow)


def _lab(images: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(images.astype(np.float32) / 255.0)


def _grey(images: np.ndarray) -> np.ndarray:
    """(N, H, W) luma in [0, 255] (Rec. 601 weights)."""
    return images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _erode(mask: np.ndarray, px: int) -> np.ndarray:
    from scipy import ndimage

    if px <= 0:
        return mask
    return ndimage.binary_erosion(mask, np.ones((2 * px + 1, 2 * px + 1), bool), border_value=0)


def _classes(labels: np.ndarray, ignore: int | None) -> list[int]:
    return [int(c) for c in np.unique(labels) if ignore is None or c != ignore]


# ------------------------------------------------------------------------------------------------ 1. colour
def colour_distance(
    gen: np.ndarray,
    gen_labels: np.ndarray,
    real: np.ndarray,
    real_labels: np.ndarray,
    ignore: int | None = None,
    seed: int = 0,
) -> float:
    """Mean over classes of the per-LAB-channel earth mover's distance between the two sets' class pixels."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(seed)
    lab_g, lab_r = _lab(gen), _lab(real)
    out = []
    for c in sorted(set(_classes(gen_labels, ignore)) & set(_classes(real_labels, ignore))):
        a, b = lab_g[gen_labels == c], lab_r[real_labels == c]
        if len(a) < MIN_CLASS_PIXELS or len(b) < MIN_CLASS_PIXELS:
            continue
        a = a[rng.choice(len(a), min(len(a), MAX_SAMPLES), replace=False)]
        b = b[rng.choice(len(b), min(len(b), MAX_SAMPLES), replace=False)]
        out.append(np.mean([wasserstein_distance(a[:, k], b[:, k]) for k in range(3)]))
    return float(np.mean(out)) if out else float("nan")


# ------------------------------------------------------------------------------------------------ 2. texture
LBP_BINS = 10  # uniform LBP with 8 neighbours: 9 uniform patterns + 1 for the rest


def _lbp(images: np.ndarray) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    grey = np.round(_grey(images)).astype(np.uint8)
    return np.stack([local_binary_pattern(g, 8, 1, method="uniform").astype(np.int64) for g in grey])


def _hist(codes: np.ndarray) -> np.ndarray:
    h = np.bincount(codes, minlength=LBP_BINS).astype(np.float64)
    return h / max(h.sum(), 1.0)


def _chi2(a: np.ndarray, b: np.ndarray) -> float:
    s = a + b
    keep = s > 0
    return float(0.5 * np.sum((a[keep] - b[keep]) ** 2 / s[keep]))


def texture_distance(
    gen: np.ndarray, gen_labels: np.ndarray, real: np.ndarray, real_labels: np.ndarray, ignore: int | None = None
) -> float:
    """Mean chi-squared distance of each generated image's class LBP histogram to the real set's pooled one."""
    lbp_g, lbp_r = _lbp(gen), _lbp(real)
    pooled: dict[int, np.ndarray] = {}
    for c in _classes(real_labels, ignore):
        inner = np.stack([_erode(m, 1) for m in real_labels == c])
        if inner.sum() >= MIN_CLASS_PIXELS:
            pooled[c] = _hist(lbp_r[inner])
    out = []
    for i in range(len(gen)):
        for c in _classes(gen_labels[i], ignore):
            if c not in pooled:
                continue
            inner = _erode(gen_labels[i] == c, 1)
            if inner.sum() >= MIN_REGION_PIXELS:
                out.append(_chi2(_hist(lbp_g[i][inner]), pooled[c]))
    return float(np.mean(out)) if out else float("nan")


# ------------------------------------------------------------------------------------------------ 3. streaks
def _profile_rms(grey: np.ndarray, mask: np.ndarray, axis: int) -> float | None:
    """RMS of the first difference of the masked mean along ``axis`` (0: a column profile, 1: a row profile);
    only lines with at least 4 region pixels, and only differences between neighbouring lines."""
    count = mask.sum(axis)
    total = np.where(mask, grey, 0.0).sum(axis)
    valid = count >= 4
    prof = np.where(valid, total / np.maximum(count, 1), np.nan)
    d = np.diff(prof)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d**2))) if len(d) else None


def streaks(images: np.ndarray, labels: np.ndarray, ignore: int | None = None) -> tuple[float, float]:
    """(columns, rows): median over class regions of the RMS first difference of the column / row profile."""
    grey = _grey(images)
    cols, rows = [], []
    for i in range(len(images)):
        for c in _classes(labels[i], ignore):
            mask = _erode(labels[i] == c, 3)
            if mask.sum() < MIN_REGION_PIXELS:
                continue
            col, row = _profile_rms(grey[i], mask, 0), _profile_rms(grey[i], mask, 1)
            if col is not None:
                cols.append(col)
            if row is not None:
                rows.append(row)
    med = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    return med(cols), med(rows)


# ------------------------------------------------------------------------------------------------ 4. reroll seams
def _gradient(grey: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1))


def seam_measures(before: np.ndarray, after: np.ndarray, labels: np.ndarray, region: np.ndarray) -> dict[str, float]:
    """One image ``(H, W, 3)`` before and after rerolling ``region`` ``(H, W)`` bool; ``labels`` ``(H, W)``.

    ``seam``: mean gradient of ``after`` on the 2-px band straddling the region's edge, away from class edges,
    divided by the mean gradient of the band's classes elsewhere (away from class edges and the region's edge);
    ``de_inside``, ``de_near`` (2-8 px outside), ``de_far`` (over 32 px outside): mean CIE76 difference.
    """
    from scipy import ndimage
    from skimage.color import deltaE_cie76

    region = region.astype(bool)
    grad = _gradient(_grey(after[None])[0])
    dist_in, dist_out = ndimage.distance_transform_edt(region), ndimage.distance_transform_edt(~region)
    to_edge = np.where(region, dist_in, dist_out)  # 1 on both sides of the edge
    class_edge = np.zeros_like(region)
    class_edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    class_edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    near_class_edge = ndimage.binary_dilation(class_edge, np.ones((7, 7), bool))  # within 3 px
    band = (to_edge <= 1) & ~near_class_edge
    ref = (to_edge > 4) & ~near_class_edge & np.isin(labels, np.unique(labels[band]))
    seam = float(grad[band].mean() / max(grad[ref].mean(), 1e-6)) if band.any() and ref.any() else float("nan")
    de = deltaE_cie76(_lab(before[None])[0], _lab(after[None])[0])
    near = (dist_out >= 2) & (dist_out <= 8)
    far = dist_out > 32
    mean = lambda m: float(de[m].mean()) if m.any() else float("nan")  # noqa: E731
    return {"seam": seam, "de_inside": mean(region), "de_near": mean(near), "de_far": mean(far)}


def boxes(height: int, width: int) -> dict[str, np.ndarray]:
    """The two reroll boxes of the seam measure: the centre quarter (on the 32-px grid at usual sizes) and a box
    off that grid (offsets of 13 px and 11 px, a third of each side)."""
    centre = np.zeros((height, width), bool)
    centre[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = True
    off = np.zeros((height, width), bool)
    y0, x0 = height // 4 + 13, width // 4 + 11
    off[y0 : y0 + height // 3, x0 : x0 + width // 3] = True
    return {"centre": centre, "off_grid": off}


# ------------------------------------------------------------------------------------------------ clipping
CLIP_WHITE, CLIP_BLACK = 250, 5  # 8-bit levels: every channel at or above / at or below


def clipped(images: np.ndarray, labels: np.ndarray, ignore: int | None = None) -> float:
    """The share of labelled pixels (``ignore`` left out) blown out to white or crushed to black in all three
    channels."""
    keep = np.ones(labels.shape, bool) if ignore is None else labels != ignore
    white = images.min(-1) >= CLIP_WHITE
    black = images.max(-1) <= CLIP_BLACK
    return float(((white | black) & keep).sum() / max(int(keep.sum()), 1))


# ------------------------------------------------------------------------------------------------ with floors
def ratio(value: float, floor: float) -> float:
    """``value / floor``; NaN where the floor is 0 (nothing to compare with)."""
    return value / floor if floor > 0 else float("nan")


def set_measures(
    generated: np.ndarray,
    real: np.ndarray,
    labels: np.ndarray,
    ignore: int | None = None,
    train: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """Measures 1-3 with their floors: ``generated[i]`` was made from ``labels[i]``, the label map of ``real[i]``.

    The images are split in halves A and B (for video data such as CamVid, blocks of consecutive frames: keep the
    files in order). Generated A is compared with real B, and the floor is real A against real B: the same scenes,
    the same sample sizes. ``X_ratio`` = generated / floor (1.0: as close to the real images as real images are to
    each other). Streaks and clipping are measured per image and have no second set: their floor is the real
    images' own value.

    ``train``: (images, labels) of real *training* pairs (a few dozen, spread over the training split). Colour and
    texture are then also measured from them to real B: the ``X_train_floor`` is what a generator that reproduced its
    training data exactly would score, and ``X_train_ratio`` = generated / that. Where the validation images come
    from the same place as the training images (a renderer, one photo collection) it lies near the A/B floor; where
    they do not (CamVid's validation frames are one stretch of one drive, darker than the training mix) it lies far
    above it, and the A/B ratio then asks for something the training data cannot teach.
    """
    n = len(real) // 2
    if n < 2:
        raise ValueError(f"the quality measures need at least 4 images, got {len(real)}")
    a, b = slice(0, n), slice(n, 2 * n)
    out: dict[str, float] = {}

    def put(name: str, value: float, floor: float) -> None:
        out[f"{name}"], out[f"{name}_floor"] = value, floor
        out[f"{name}_ratio"] = ratio(value, floor)

    put("colour", colour_distance(generated[a], labels[a], real[b], labels[b], ignore),
        colour_distance(real[a], labels[a], real[b], labels[b], ignore))  # fmt: skip
    put("texture", texture_distance(generated[a], labels[a], real[b], labels[b], ignore),
        texture_distance(real[a], labels[a], real[b], labels[b], ignore))  # fmt: skip
    if train is not None:
        ti, tl = train
        if len(ti) != len(tl) or len(ti) == 0:
            raise ValueError(f"the training floor needs matching, non-empty images and labels: {len(ti)}, {len(tl)}")
        for name, fn in (("colour", colour_distance), ("texture", texture_distance)):
            floor = fn(ti, tl, real[b], labels[b], ignore)
            out[f"{name}_train_floor"] = floor
            out[f"{name}_train_ratio"] = ratio(out[name], floor)
    both = slice(0, 2 * n)  # the per-image measures use both halves
    gc, gr = streaks(generated[both], labels[both], ignore)
    rc, rr = streaks(real[both], labels[both], ignore)
    put("streaks_col", gc, rc)
    put("streaks_row", gr, rr)
    # the floor is the real images' own share (0 when none is clipped: then no ratio)
    put("clipped", clipped(generated[both], labels[both], ignore), clipped(real[both], labels[both], ignore))
    return out


def downsample(images: np.ndarray, labels: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) images box-averaged by ``factor`` and their (N, H, W) labels taken by nearest neighbour (both
    cropped to a multiple of ``factor``)."""
    n, h, w = labels.shape
    h, w = h - h % factor, w - w % factor
    im = images[:, :h, :w].astype(np.float32).reshape(n, h // factor, factor, w // factor, factor, -1)
    return np.round(im.mean((2, 4))).astype(np.uint8), labels[:, :h:factor, :w:factor]


def measures_by_scale(
    generated: np.ndarray, real: np.ndarray, labels: np.ndarray, ignore: int | None = None, factors=(2, 4)
) -> dict[str, float]:
    """The texture and streak ratios of :func:`set_measures` on images downsampled by each factor: where in scale
    a gap is made (a gap that is gone at half resolution is made at the full-resolution block)."""
    out: dict[str, float] = {}
    for f in factors:
        if min(labels.shape[1:]) // f < 32:
            continue  # too small to measure
        g, lab = downsample(generated, labels, f)
        r, _ = downsample(real, labels, f)
        m = set_measures(g, r, lab, ignore)
        for name in ("texture", "streaks_col", "streaks_row"):
            out[f"{name}_ratio_at_1_{f}"] = m[f"{name}_ratio"]
    return out
