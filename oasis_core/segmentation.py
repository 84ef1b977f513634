"""Segmentation by the discriminator, and what is done with it: the result type and the photo resizing of
``Synthesizer.segment``, the full-size maps computed from the model-size logits, and label-map clean-up and realism
regions (connected regions, small-region merging, low-confidence filling).

The clean-up is pure numpy (no scipy): connected regions are found on row runs with a vectorised union-find, so a
6000x4000 map takes a second or two. Regions are 4-connected (pixels sharing an edge), like the app's fill tool.

```python
labels = cleanup_labels(seg.labels, seg.confidence, min_region=64)      # no region smaller than 64 pixels
masks = worst_regions(seg.fake, labels, k=3, min_area=100)              # the 3 least realistic regions
```
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: pixels whose confidence is below this are refilled from their neighbours when ``min_confidence`` is None
DEFAULT_MIN_CONFIDENCE = 0.5

#: how much of the training split's class prior segmentation puts back into the discriminator's logits. OASIS
#: trains the discriminator with class-balanced weights (``w_c`` proportional to ``1 / frequency_c``), which tilts its
#: argmax toward rare classes; adding ``strength * log(frequency_c)`` undoes part of that tilt. 0.5 was chosen on
#: training images of the bundled models, where it raised both pixel accuracy and mIoU (1.0, the full correction,
#: lowers mIoU: the logits are not calibrated posteriors).
PRIOR_STRENGTH = 0.5
#: floor of a class frequency before its logarithm (a class never seen in training is pushed down, not to -inf)
_MIN_FREQUENCY = 1e-6


def prior_bias(frequencies, strength: float = PRIOR_STRENGTH) -> np.ndarray:
    """Per-class additive logit bias ``strength * log(frequency)`` (float32) for class pixel ``frequencies``."""
    f = np.asarray(frequencies, dtype=np.float64)
    return (strength * np.log(np.maximum(f, _MIN_FREQUENCY))).astype(np.float32)


def check_prior(prior, num_classes: int) -> tuple[np.ndarray, float]:
    """Validate a model file's ``segmentation_prior`` entry; return (frequencies, strength) or raise ValueError."""
    if not isinstance(prior, dict):
        raise ValueError("segmentation_prior must be an object")
    freq, strength = prior.get("class_frequencies"), prior.get("strength", PRIOR_STRENGTH)
    if not isinstance(freq, list) or len(freq) != num_classes:
        raise ValueError(f"segmentation_prior.class_frequencies must list {num_classes} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in freq + [strength]):
        raise ValueError("segmentation_prior holds a value that is not a number")
    try:
        f = np.asarray([float(v) for v in freq], dtype=np.float64)
        strength = float(strength)
    except OverflowError:
        raise ValueError("segmentation_prior holds a number too large for a float") from None
    with np.errstate(over="ignore"):
        total = f.sum()
    if not np.isfinite(f).all() or (f < 0).any() or not (0 < total < np.inf):
        raise ValueError("segmentation_prior.class_frequencies must be finite, non-negative and not all zero")
    if not (np.isfinite(strength) and 0 <= strength <= 4):
        raise ValueError(f"segmentation_prior.strength must be between 0 and 4, not {strength}")
    return f / total, strength


@dataclass
class Regions:
    """4-connected regions of equal value in a 2-D map.

    ``run_of_pixel`` (H*W,) numbers the row runs in raster order; ``region_of_run`` maps a run to its region.
    ``sizes[r]`` and ``values[r]`` are a region's pixel count and value. ``ids()`` gives the (H, W) region map.
    """

    shape: tuple[int, int]
    run_of_pixel: np.ndarray
    run_starts: np.ndarray
    region_of_run: np.ndarray
    sizes: np.ndarray
    values: np.ndarray

    @property
    def count(self) -> int:
        return len(self.sizes)

    def ids(self) -> np.ndarray:
        """(H, W) int32 region ids, 0..count-1 in raster order of each region's first pixel."""
        return self.region_of_run[self.run_of_pixel].reshape(self.shape)

    def paint(self, value_of_region: np.ndarray) -> np.ndarray:
        """A map holding ``value_of_region[r]`` on every pixel of region r."""
        return np.asarray(value_of_region)[self.region_of_run][self.run_of_pixel].reshape(self.shape)

    def adjacency(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Neighbouring region pairs ``(a, b, length)`` with a < b; length counts the pixel edges they share."""
        h, w = self.shape
        flat = values.reshape(-1)
        reg = self.region_of_run
        # horizontal borders are exactly the run starts that are not at the start of a row
        starts = self.run_starts
        inner = starts % w != 0
        ha = reg[np.flatnonzero(inner)]
        hb = reg[np.flatnonzero(inner) - 1]
        # vertical borders: pixels whose upper neighbour has another value
        below = np.flatnonzero(flat[w:] != flat[:-w]) + w
        va = reg[self.run_of_pixel[below]]
        vb = reg[self.run_of_pixel[below - w]]
        a = np.concatenate([ha, va]).astype(np.int64)
        b = np.concatenate([hb, vb]).astype(np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys, length = np.unique(lo * self.count + hi, return_counts=True)
        return keys // self.count, keys % self.count, length


def _root_of(parent: np.ndarray) -> np.ndarray:
    """Follow parent pointers to the roots (pointer jumping)."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def _union(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectorised union-find over n nodes joined by edges (a[i], b[i]): the smallest node of each group, per node."""
    parent = np.arange(n, dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while a.size:
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        if not apart.any():
            break
        a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]
        # hook every root onto the smallest root it touches; always downwards, so no cycles form
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        parent = _root_of(parent)
    return parent


def connected_regions(values: np.ndarray) -> Regions:
    """The 4-connected regions of equal value of a 2-D map (any integer dtype)."""
    values = np.ascontiguousarray(values)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a label map must be a non-empty 2-D array, got shape {values.shape}")
    h, w = values.shape
    start = np.empty((h, w), dtype=bool)
    start[:, 0] = True
    np.not_equal(values[:, 1:], values[:, :-1], out=start[:, 1:])
    flat_start = start.reshape(-1)
    run_starts = np.flatnonzero(flat_start)
    run_of_pixel = np.cumsum(flat_start, dtype=np.int32 if values.size < 2**31 else np.int64) - 1
    n_runs = len(run_starts)
    # two runs in neighbouring rows join when they overlap with the same value; each overlap shows at a column
    # where one of the two rows starts a run, so only those columns are compared
    if h > 1:
        cand = start[1:] | start[:-1]
        cand &= values[1:] == values[:-1]
        lower = np.flatnonzero(cand) + w
        del cand
        root = _union(n_runs, run_of_pixel[lower], run_of_pixel[lower - w])
    else:
        root = np.arange(n_runs, dtype=np.int64)
    is_root = root == np.arange(n_runs)
    number = np.cumsum(is_root) - 1
    region_of_run = number[root].astype(np.int32)
    run_len = np.diff(np.append(run_starts, values.size))
    sizes = np.bincount(region_of_run, weights=run_len, minlength=int(is_root.sum())).astype(np.int64)
    region_values = values.reshape(-1)[run_starts[is_root]]
    return Regions((h, w), run_of_pixel, run_starts, region_of_run, sizes, region_values)


def region_sizes(values: np.ndarray) -> np.ndarray:
    """(H, W) map of the size of the region each pixel belongs to."""
    r = connected_regions(values)
    return r.paint(r.sizes)


# --------------------------------------------------------------------------------------------- clean-up
def fill_uncertain(labels: np.ndarray, uncertain: np.ndarray) -> np.ndarray:
    """Give every ``uncertain`` pixel the label of the nearest certain pixel (4-connected steps through uncertain
    pixels); a new array. Returns a copy unchanged when no pixel, or every pixel, is uncertain."""
    labels = np.asarray(labels)
    uncertain = np.asarray(uncertain, dtype=bool)
    if uncertain.shape != labels.shape:
        raise ValueError(f"the mask {uncertain.shape} does not match the label map {labels.shape}")
    out = labels.copy()
    if not uncertain.any() or uncertain.all():
        return out
    h, w = labels.shape
    flat = out.reshape(-1)
    todo = uncertain.reshape(-1).copy()
    # the first frontier: certain pixels with an uncertain 4-neighbour
    edge = np.zeros((h, w), dtype=bool)
    edge[1:] |= uncertain[:-1]
    edge[:-1] |= uncertain[1:]
    edge[:, 1:] |= uncertain[:, :-1]
    edge[:, :-1] |= uncertain[:, 1:]
    edge &= ~uncertain
    frontier = np.flatnonzero(edge)
    del edge
    n = h * w
    stamp = np.full(n, -1, dtype=np.int32 if 4 * n < 2**31 else np.int64)
    while frontier.size:
        col = frontier % w  # steps left and right must not wrap around the row ends
        steps = []
        for offset, ok in ((-w, frontier >= w), (w, frontier < n - w), (-1, col > 0), (1, col < w - 1)):
            src = frontier[ok]
            dst = src + offset
            hit = todo[dst]
            steps.append((dst[hit], src[hit]))
        dst = np.concatenate([s[0] for s in steps])
        src = np.concatenate([s[1] for s in steps])
        if not dst.size:
            break
        # a pixel reached from several sources in one step takes one of them (whichever the write kept)
        order = np.arange(dst.size, dtype=stamp.dtype)
        stamp[dst] = order
        keep = stamp[dst] == order
        dst, src = dst[keep], src[keep]
        flat[dst] = flat[src]
        todo[dst] = False
        frontier = dst
    return out


def merge_small_regions(labels: np.ndarray, min_region: int) -> np.ndarray:
    """Merge every 4-connected region smaller than ``min_region`` pixels into its most common neighbouring label.

    A small region next to regions that are big enough takes the label with which it shares the longest border
    among those big neighbours. Small regions with only small neighbours (speckle) first join their neighbour of
    longest border, and the joined group is handled the same way in the next round. The result has no region below
    ``min_region`` pixels unless the whole map is smaller than that (then it is one region).
    """
    labels = np.asarray(labels)
    if min_region <= 1:
        return labels.copy()
    regions = connected_regions(labels)
    if (regions.sizes >= min_region).all():
        return labels.copy()
    ea, eb, ew = regions.adjacency(labels)
    # the region graph is contracted round by round; its nodes are groups of the original regions
    group = np.arange(regions.count, dtype=np.int64)
    node_value = regions.values.astype(np.int64)
    node_size = regions.sizes.copy()
    while True:
        n = len(node_value)
        small = node_size < min_region
        if not small.any() or n == 1:
            break
        src = np.concatenate([ea, eb])
        dst = np.concatenate([eb, ea])
        wts = np.concatenate([ew, ew])
        edge_id = np.concatenate([np.arange(len(ea)), np.arange(len(ea))])
        big = ~small
        to_big = small[src] & big[dst]
        has_big = np.zeros(n, dtype=bool)
        has_big[src[to_big]] = True
        new_value = node_value.copy()
        if to_big.any():
            # small next to big: the value with the longest border among the big neighbours (ties: smaller value)
            s, v, wt = src[to_big], node_value[dst[to_big]], wts[to_big]
            vmin = int(v.min())
            span = int(v.max()) - vmin + 1
            ukey, inv = np.unique(s * span + (v - vmin), return_inverse=True)
            total = np.bincount(inv, weights=wt)
            us, uv = ukey // span, ukey % span + vmin
            order = np.lexsort((uv, -total, us))
            first = np.ones(order.size, dtype=bool)
            first[1:] = us[order][1:] != us[order][:-1]
            new_value[us[order[first]]] = uv[order[first]]
        # small with only small neighbours: point at the neighbour of longest border. Edges are totally ordered
        # (length, then edge id), so the only cycles are pairs that chose the same edge; the smaller node of a
        # pair stays the root. Each such node then takes its tree root's value.
        lonely = small & ~has_big
        parent = np.arange(n, dtype=np.int64)
        pick = lonely[src]
        if pick.any():
            s, d, wt, eid = src[pick], dst[pick], wts[pick], edge_id[pick]
            order = np.lexsort((eid, -wt, s))
            first = np.ones(order.size, dtype=bool)
            first[1:] = s[order][1:] != s[order][:-1]
            parent[s[order[first]]] = d[order[first]]
            nodes = np.arange(n)
            pair = (parent[parent] == nodes) & (parent != nodes) & (nodes < parent)
            parent[pair] = nodes[pair]
            root = _root_of(parent)
            new_value[lonely] = new_value[root[lonely]]
        node_value = new_value
        # neighbours that now hold the same value become one node
        same = node_value[ea] == node_value[eb]
        root = _union(n, ea[same], eb[same])
        is_root = root == np.arange(n)
        new_id = np.cumsum(is_root)[root] - 1
        m = int(is_root.sum())
        if m == n:
            break  # no progress (cannot happen on a connected grid; a guard against an endless loop)
        group = new_id[group]
        node_size = np.bincount(new_id, weights=node_size, minlength=m).astype(np.int64)
        node_value = node_value[is_root]
        na, nb = new_id[ea], new_id[eb]
        keep = na != nb
        lo, hi = np.minimum(na[keep], nb[keep]), np.maximum(na[keep], nb[keep])
        ukeys, inv = np.unique(lo * m + hi, return_inverse=True)
        ea, eb = ukeys // m, ukeys % m
        ew = np.bincount(inv, weights=ew[keep], minlength=len(ukeys)).astype(np.int64)
    return regions.paint(node_value[group].astype(labels.dtype))


def cleanup_labels(
    labels: np.ndarray,
    confidence: np.ndarray | None,
    min_region: int,
    min_confidence: float | None = None,
) -> np.ndarray:
    """Clean a segmentation: refill low-confidence pixels from their neighbours, then merge small regions.

    ``labels`` (H, W) integer ids; ``confidence`` (H, W) in [0, 1] or None (no refill). Pixels with confidence
    below ``min_confidence`` (default ``DEFAULT_MIN_CONFIDENCE``; 0 turns the refill off) take the label of the
    nearest confident pixel. Then every 4-connected region smaller than ``min_region`` pixels is merged into its
    most common neighbouring label. Returns a new map of the same dtype.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(f"a label map must be a non-empty 2-D array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"label maps hold integer ids, got dtype {labels.dtype}")
    if int(min_region) < 1:
        raise ValueError(f"min_region must be at least 1 pixel, got {min_region}")
    out = labels
    if confidence is not None:
        confidence = np.asarray(confidence)
        if confidence.shape != labels.shape:
            raise ValueError(f"confidence {confidence.shape} does not match the label map {labels.shape}")
        threshold = DEFAULT_MIN_CONFIDENCE if min_confidence is None else float(min_confidence)
        if threshold > 0:
            out = fill_uncertain(out, confidence < threshold)
    return merge_small_regions(out, int(min_region))


# --------------------------------------------------------------------------------------------- realism
def worst_regions(fake_prob: np.ndarray, labels: np.ndarray, k: int, min_area: int = 1) -> list[np.ndarray]:
    """Masks (H, W bool) of the ``k`` connected regions of ``labels`` (one class each, at least ``min_area``
    pixels) with the highest mean fake probability, worst first. Fewer when fewer regions are big enough."""
    fake_prob = np.asarray(fake_prob, dtype=np.float64)
    labels = np.asarray(labels)
    if fake_prob.shape != labels.shape:
        raise ValueError(f"the realism map {fake_prob.shape} does not match the label map {labels.shape}")
    if k < 1:
        return []
    regions = connected_regions(labels)
    ids = regions.ids()
    score = np.bincount(ids.reshape(-1), weights=fake_prob.reshape(-1), minlength=regions.count)
    score = score / np.maximum(regions.sizes, 1)
    eligible = np.flatnonzero(regions.sizes >= max(1, int(min_area)))
    ranked = eligible[np.argsort(-score[eligible], kind="stable")][:k]
    return [ids == r for r in ranked]


def region_scores(fake_prob: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(region id map, mean fake probability per region) of the 4-connected regions of ``labels``."""
    regions = connected_regions(labels)
    ids = regions.ids()
    score = np.bincount(ids.reshape(-1), weights=np.asarray(fake_prob, dtype=np.float64).reshape(-1))
    return ids, score / np.maximum(regions.sizes, 1)


# ------------------------------------------------------------------------------- segmenting at a photo's size
@dataclass
class SegmentResult:
    """Discriminator segmentation of an image, at the image's own resolution."""

    labels: np.ndarray  # (H, W) label-file values
    # (H, W) float32: softmax probability of the chosen class among the real classes, of the logits that chose it
    # (with the model's class prior, when it was used), so clean-up thresholds see the same ranking as the labels
    confidence: np.ndarray
    fake: np.ndarray  # (H, W) float32: probability of the "fake" channel among all N+1 outputs


def maps_at_size(
    logits: np.ndarray,
    keep: np.ndarray,
    values: np.ndarray,
    h: int,
    w: int,
    step: Callable[[], None],
    bias: np.ndarray | None = None,
) -> SegmentResult:
    """Labels, confidence and fake probability at (h, w) from (N+1, rh, rw) logits, as if the logits had been
    resized bilinearly (align_corners=False) first, without ever holding N+1 full-size planes.

    Where the four source pixels of an output pixel agree on the best class, the interpolated logits agree too
    (the margin of the best class is positive at every corner, so at any blend of them): only pixels between
    disagreeing sources need their logits interpolated. Confidence and fake probability are smooth, so they are
    computed at the model's size and resized. ``bias`` (one value per ``keep`` channel) is added to the real-class
    logits only, so the fake probability stays the raw discriminator's.
    """
    real = logits[keep]
    if bias is not None:
        real = real + bias.astype(real.dtype)[:, None, None]
    best = real.argmax(axis=0)
    top = real.max(axis=0)
    small_conf = 1.0 / np.exp(real - top).sum(axis=0)
    peak = logits.max(axis=0)
    small_fake = np.exp(logits[0] - peak) / np.exp(logits - peak).sum(axis=0)
    edge = np.pad(best, ((0, 1), (0, 1)), mode="edge")
    corner = edge[:-1, :-1]
    agree = (corner == edge[1:, :-1]) & (corner == edge[:-1, 1:]) & (corner == edge[1:, 1:])
    mixed_code = len(keep)  # marks output pixels whose sources disagree
    code = np.where(agree, best, mixed_code).astype(np.uint8 if mixed_code < 256 else np.int32)
    rh, rw = best.shape
    c0, c1, tx = (t.numpy() for t in _bilinear_taps(w, rw))
    r0, r1, ty = (t.numpy() for t in _bilinear_taps(h, rh))
    picked = code.take(r0, axis=0).take(c0, axis=1)
    labels = np.append(values, values[0]).take(picked)
    ys, xs = np.nonzero(picked == mixed_code)
    del picked
    chunk = max(1, (1 << 22) // len(keep))
    for i in range(0, ys.size, chunk):
        y, x = ys[i : i + chunk], xs[i : i + chunk]
        p0, p1, q0, q1, u, v = r0[y], r1[y], c0[x], c1[x], tx[x], ty[y]
        blend = (real[:, p0, q0] * (1 - u) + real[:, p0, q1] * u) * (1 - v)
        blend += (real[:, p1, q0] * (1 - u) + real[:, p1, q1] * u) * v
        labels[y, x] = values[blend.argmax(axis=0)]
    step()
    small = torch.from_numpy(np.stack([small_conf, small_fake]).astype(np.float32))[None]
    maps = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0].clamp_(0, 1).numpy()
    step()
    return SegmentResult(labels=labels, confidence=maps[0], fake=maps[1])


def resize_photo(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """An (H, W, 3) uint8 photo resized bicubically, as the training data is (antialiased; large photos are
    box-reduced first, which is fast)."""
    from PIL import Image

    if photo.shape[:2] == (height, width):
        return np.ascontiguousarray(photo)
    img = Image.fromarray(np.ascontiguousarray(photo))
    return np.asarray(img.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0))


def _bilinear_taps(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of a bilinear resize from n_in to n_out samples (align_corners=False)."""
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (src - i0).clamp(0, 1).float()
