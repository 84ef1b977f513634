"""The fast generator: builds (or updates) the plan of a label map and runs the planned or the dense forward pass.

Longer than 500 lines on purpose: one class whose methods share the plan cache, the workspace and the folded
levels; the design is described in docs/fast-path.md."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from oasis_core import noise as noise_ops
from oasis_core.fast.folded import _bias, _Conv, _Level, _nchw, _nhwc, _Spade
from oasis_core.fast.layout import NoiseLayout, analyse_noise
from oasis_core.fast.patterns import (
    _CODE_LIMIT,
    _bucket,
    _compact,
    _digest,
    _first_index,
    _matmul,
    _patterns,
    _row_buffer,
    _window_patterns,
)
from oasis_core.fast.plan import _Geometry, _key_room, _Plan, _row_room, _Stream
from oasis_core.nn.generator import Generator, grain_at
from oasis_core.nn.spade import SPADE

# values of x per chunk and intra-op thread in the fused gather-modulate-activate passes (about 400 kB of bf16 with
# the gathered rows and the result: L2-sized; measured best between 64k and 128k for 16 to 256 channels)
_CHUNK_VALUES = 96 * 1024
# the fused passes ask the cancel check every this many chunks (about 0.1 s of a 1536x1536 level on one core)
_CHECK_CHUNKS = 32
# levels with fewer cells regroup from scratch after a stroke or reroll: the incremental update's fixed cost (some
# forty small steps, about 1 ms) exceeds a full grouping there (measured at 256x256: 0.2-0.6 ms from scratch against
# 0.7-1.6 ms updated for the 8x8 to 64x64 levels, equal at 128x128, 2.6 against 1.9 ms at 256x256)
_UPDATE_MIN_CELLS = 128 * 128
# levels of a single image with at most this many cells compute their SPADE inputs densely (two small convolutions)
# instead of through pattern tables: there are fewer cells than table rows, and the few convolutions cost less than
# the tables' forty small steps (level 0 of a 256x256 frame: about 0.4 ms against 1.3 ms, on the critical path)
_DENSE_MAX_CELLS = 256


def fast_supported(generator: Generator) -> str | None:
    """``None`` when :class:`FastGenerator` can run this generator, else the reason it cannot."""
    if generator.training:
        return "the generator is in training mode"
    for m in generator.modules():
        if hasattr(m, "parametrizations"):
            return "the generator carries spectral-norm parametrizations (fold them first)"
        if isinstance(m, SPADE):
            norm = m.first_norm
            if isinstance(norm, nn.modules.batchnorm._BatchNorm):
                if norm.running_mean is None or norm.running_var is None:
                    return "a SPADE BatchNorm has no running statistics"
            elif not isinstance(norm, nn.InstanceNorm2d) or norm.affine or norm.track_running_stats:
                return f"unsupported SPADE normalisation {type(norm).__name__}"
    return None


@contextmanager
def _num_threads(n: int | None):
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class Cancelled(Exception):
    """A generation stopped because its ``cancel`` check said so (between blocks, bands of a large convolution's rows,
    or a few dozen chunks of a fused pass: within about a tenth of a second of a 1536x1536 frame on one core)."""


class _RowGather:
    """A chunk's G and B rows: gathered from the tables into two reused (contiguous) buffers, or sliced from
    per-pixel maps (dense path)."""

    def __init__(self, st: _Stream, gb: tuple, step: int, c: int, dtype: torch.dtype):
        self.g, self.b, self.idx = gb
        if self.idx is not None:
            self.gbuf = st.get("grows", (step, c), dtype)
            self.bbuf = st.get("brows", (step, c), dtype)

    def __call__(self, s: int, e: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.idx is None:
            return self.g[s:e], self.b[s:e]
        i = self.idx[s:e]
        return (
            torch.index_select(self.g, 0, i, out=self.gbuf[: e - s]),
            torch.index_select(self.b, 0, i, out=self.bbuf[: e - s]),
        )


def _same_key(a: tuple, b: tuple) -> bool:
    """Grain cache keys: the same size, and per image the same tensors (identity) at the same versions."""
    if a[:2] != b[:2] or len(a[2]) != len(b[2]):
        return False
    return all(x[0] is y[0] and x[1] == y[1] and x[2] is y[2] and x[3] == y[3] for x, y in zip(a[2], b[2]))


class FastGenerator:
    """Exact re-arrangement of a :class:`Generator`'s eval-mode forward, for inference.

    ``FastGenerator(generator, dtype)(channels, noise)``: ``channels`` (H, W) int64 label channels (the argmax of the
    one-hot input), ``noise`` (B, z, H, W) float (or a :class:`NoiseLayout`); returns (B, 3, H, W) float32 in
    [-1, 1]. fp32 matches the eager generator to float rounding; bf16/fp16 run the trunk in that dtype.

    ``threads``: intra-op threads for one image (None: torch's setting). ``cores``: cores a call may use (None: 2 on
    CPUs with 2+ cores, else 1): with 2, one image builds its tables on the second core beside the trunk, and a
    batch runs every step on ``max(cores, threads)`` intra-op threads. ``workspace_mb``: reused buffers are kept
    between calls up to this size, and a batch is run in chunks of images that fit it.
    ``cache_size``: label-map plans kept (LRU). ``max_keys``: more (label, noise vector) pairs than this take the
    dense path. Calls are serialised (a lock); the object is safe to share between threads.
    """

    def __init__(
        self,
        generator: Generator,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        *,
        threads: int | None = 1,
        cores: int | None = None,
        cache_size: int = 8,
        max_keys: int = 1024,
        workspace_mb: int = 512,
    ):
        reason = fast_supported(generator)
        if reason:
            raise ValueError(f"the fast path cannot run this generator: {reason}")
        cfg = generator.config
        self.config = cfg
        self.device = torch.device(device) if device is not None else next(generator.parameters()).device
        self.dtype = dtype
        self.threads = threads
        if cores is None:
            cores = min(2, os.cpu_count() or 1) if self.device.type == "cpu" else 1
        self.cores = max(1, int(cores))
        self.z_dim = cfg.z_dim
        self.semantic_nc = cfg.semantic_nc
        self.downscale = cfg.downscale
        self.upsample = cfg.upsample  # nearest: a row gather, fused into the shortcut pass; bilinear: a pass of its own
        self.max_keys = max_keys
        self.workspace_bytes = workspace_mb << 20
        with torch.no_grad():
            self.fc_weight = generator.fc.weight.detach().float().to(self.device)
            self.fc_bias = _bias(generator.fc).float().to(self.device)
            self.levels = [_Level(b, cfg.z_dim, dtype, self.device) for b in generator.body]
            self.conv_img = _Conv(generator.conv_img.weight, generator.conv_img.bias, dtype, self.device)
        self.grain_channels = cfg.grain_channels
        # the output grain's amplitude per label channel and colour (fp32: a table of a few dozen numbers)
        gr = generator.grain_rgb
        self.grain_rgb = None if gr is None else gr.detach().float().to(self.device)
        self._grain_cache: tuple[tuple, torch.Tensor] | None = None  # (key, grain) of the last call's noise
        self._grain: torch.Tensor | None = None  # the running call's (B, grain_channels, H, W)
        self._plans: OrderedDict[tuple, _Plan] = OrderedDict()
        self._last: tuple[_Plan, NoiseLayout | None] | None = None  # the last plan used, for incremental updates
        self._cache_size = cache_size
        self._stream = _Stream(self.device)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._cancel: Callable[[], bool] | None = None  # the running call's cancel check
        self.stats = {"plan_hits": 0, "plan_misses": 0, "dense": 0, "plan_updates": 0, "level_updates": 0}

    def clear_cache(self) -> None:
        """Forget the cached label-map plans and release the reused buffers."""
        with self._lock:
            self._plans.clear()
            self._last = None
            self._stream.clear()
            self._grain_cache = None

    def image_bytes(self, height: int, width: int) -> int:
        """Workspace bytes one image of this size needs (the batch chunk size is derived from it)."""
        item = torch.empty((), dtype=self.dtype).element_size()
        total = 0
        for i, lvl in enumerate(self.levels):
            px = (height >> (len(self.levels) - 1 - i)) * (width >> (len(self.levels) - 1 - i))
            # upsampled input (unfused blocks), modulated map, conv_0 output, residual; the planned path gathers
            # G and B per chunk, the dense path keeps a G|B map per SPADE (2 * (fin + fin + fmiddle))
            total += px * (lvl.fin + max(lvl.fin, lvl.fmiddle) + lvl.fmiddle + lvl.fout) * item
            total += px * 2 * (2 * lvl.fin + lvl.fmiddle) * item
        return total

    # ------------------------------------------------------------------------------------------- plans
    def _plan(self, channels: torch.Tensor, layout: NoiseLayout, label_key: bytes | None) -> _Plan | None:
        h, w = channels.shape
        lab = channels.reshape(-1)
        label_key = label_key if label_key is not None else _digest(lab)
        noise_key = tuple(None if ids is None else _digest(ids) for ids in layout.ids)
        if all(k is None for k in noise_key):
            noise_key = ()  # one vector per image: the geometry does not depend on the batch
        key = (label_key, noise_key, h, w)
        plan = self._plans.get(key)
        if plan is not None:
            self._plans.move_to_end(key)
            self.stats["plan_hits"] += 1
        else:
            self.stats["plan_misses"] += 1
            plan = self._derive(lab, layout, h, w) if self._last is not None else None
            if plan is None:
                plan = self._new_plan(lab, layout, bool(noise_key), h, w)
                if plan is None:
                    return None
            else:
                self.stats["plan_updates"] += 1
            self._plans[key] = plan
            while len(self._plans) > self._cache_size:
                self._plans.popitem(last=False)
        snap = None
        if layout.batch == 1:  # what the next update compares with, copied: callers may edit their arrays in place
            snap = NoiseLayout([layout.vectors[0].clone()], [None if layout.ids[0] is None else layout.ids[0].clone()])
        self._last = (plan, snap)
        return plan

    def _new_plan(self, lab: torch.Tensor, layout: NoiseLayout, with_ids: bool, h: int, w: int) -> _Plan | None:
        code, span = lab, self.semantic_nc
        for ids, vec in zip(layout.ids, layout.vectors):
            if ids is None:
                continue
            k = vec.shape[0]
            if span * k >= _CODE_LIMIT:
                code, span = _compact(code, span)
            code = code * k + ids
            span *= k
        keys, n_keys = _compact(code, span)
        if n_keys > self.max_keys:
            return None
        first = _first_index(keys, n_keys)
        u_cap = _key_room(n_keys)

        def room(t: torch.Tensor) -> torch.Tensor:
            return F.pad(t, (0, u_cap - n_keys))

        key_noise = [room(torch.zeros_like(first) if ids is None else ids[first]) for ids in layout.ids]
        return _Plan(
            n_keys,
            u_cap,
            room(lab[first]),
            key_noise if with_ids else [],
            keys.view(h, w),
            [None] * len(self.levels),
            lab.clone(),  # the caller's label map may be edited in place after this call
        )

    def _derive(self, lab: torch.Tensor, layout: NoiseLayout, h: int, w: int) -> _Plan | None:
        """The plan of a key map that differs from the last one in a small area (a stroke, a reroll): the same key
        numbers for the same (label, noise vector) pairs, new keys added, geometry updated around the change
        (see :meth:`_geometry`). ``None`` when a fresh plan is the better choice."""
        parent, p_layout = self._last
        if parent.kmap.shape != (h, w) or self._updatable_levels_missing(parent):
            return None
        parent.parent = None  # fully built: no chains of ancestors are kept
        n_p = parent.n_keys
        with_ids = any(ids is not None for ids in layout.ids)
        changed = lab != parent.lab
        key_vec = key_live = None
        if not with_ids and not parent.key_noise:  # keys are labels on both sides
            pix, span = lab, self.semantic_nc
            p_code = parent.key_label[:n_p]
        else:
            if not with_ids or layout.batch != 1 or p_layout is None:
                return None
            vp, vc = p_layout.vectors[0].cpu(), layout.vectors[0].cpu()
            # each child vector takes a parent index holding the same bytes, each parent index at most once: two ids
            # with equal vectors stay two keys (the plan is cached by ids and serves layouts whose vectors differ)
            known: dict[bytes, list[int]] = {}
            for i in range(vp.shape[0]):
                known.setdefault(vp[i].numpy().tobytes(), []).append(i)
            c2p = []
            for i in range(vc.shape[0]):
                same = known.get(vc[i].numpy().tobytes())
                c2p.append(same.pop(0) if same else -1)
            fresh = [i for i, j in enumerate(c2p) if j < 0]
            for r, i in enumerate(fresh):
                c2p[i] = vp.shape[0] + r  # vectors new to this layout follow the parent's
            span_v = vp.shape[0] + len(fresh)
            comb = torch.tensor(c2p, dtype=torch.long, device=lab.device)  # child vector -> combined index
            pix_v = comb[layout.ids[0]]
            p_ids = p_layout.ids[0]
            changed |= pix_v != (p_ids if p_ids is not None else 0)
            pix, span = lab * span_v + pix_v, self.semantic_nc * span_v
            p_vec = parent.key_noise[0][:n_p] if parent.key_noise else torch.zeros_like(parent.key_label[:n_p])
            p_code = parent.key_label[:n_p] * span_v + p_vec
            if parent.key_live is not None:
                p_code = p_code.masked_fill(~parent.key_live[:n_p], -1)  # a vector gone: never matched again
            back = torch.full((span_v,), -1, dtype=torch.long, device=lab.device)
            back[comb] = torch.arange(comb.numel(), device=lab.device)  # combined index -> child vector
            key_vec = back[p_vec]
        rows = changed.view(h, w).any(1).nonzero().squeeze(1)
        if rows.numel() == 0:
            r0 = r1 = c0 = c1 = 0
        else:
            cols = changed.view(h, w).any(0).nonzero().squeeze(1)
            r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            if (r1 - r0) * (c1 - c0) * 2 > h * w:
                return None
        box = pix.view(h, w)[r0:r1, c0:c1].reshape(-1)
        # box codes -> parent keys (sorted search), the rest -> new keys
        order = torch.argsort(p_code)
        srt = p_code[order]
        pos = torch.searchsorted(srt, box).clamp_(max=max(0, n_p - 1))
        hit = srt[pos] == box if n_p else torch.zeros_like(box, dtype=torch.bool)
        keys = torch.where(hit, order[pos], 0)
        new_codes, inverse = torch.unique(box[~hit], return_inverse=True)
        n_new = new_codes.numel()
        if n_p + n_new > min(parent.u_cap, self.max_keys):
            return None  # out of key room: a fresh plan
        keys[~hit] = n_p + inverse
        kmap = parent.kmap.clone()
        kmap[r0:r1, c0:c1] = keys.view(r1 - r0, c1 - c0)
        key_label = parent.key_label.clone()
        key_label[n_p : n_p + n_new] = new_codes // (span // self.semantic_nc)
        key_noise: list[torch.Tensor] = []
        if key_vec is not None:
            vec = torch.zeros_like(key_label)
            vec[:n_p] = key_vec.clamp(min=0)
            vec[n_p : n_p + n_new] = back[new_codes % (span // self.semantic_nc)]
            key_noise = [vec]
            key_live = torch.ones_like(key_label, dtype=torch.bool)
            key_live[:n_p] = key_vec >= 0
        levels: list[_Geometry | None] = [None] * len(self.levels)
        return _Plan(n_p + n_new, parent.u_cap, key_label, key_noise, kmap, levels, lab.clone(), key_live, parent)

    def _geometry(self, plan: _Plan, i: int) -> _Geometry:
        geo = plan.levels[i]
        if geo is None:
            s = self.downscale >> i
            km = plan.kmap[::s, ::s]
            parent = plan.parent
            if parent is not None and parent.levels[i] is not None and self._updatable(km.numel()):
                geo = self._update_geometry(km, parent.kmap[::s, ::s], parent.levels[i], plan.u_cap)
                self.stats["level_updates"] += geo is not None
            if geo is None:
                pid3, pats3 = _patterns(km, plan.u_cap)
                n3 = _row_room(plan.u_cap + pats3.shape[0])
                pid5, pats5 = _patterns(pid3.view(km.shape), n3)
                geo = _Geometry(pid5, pid3, pats3, pats5, n3, n3 + pats5.shape[0])
            plan.levels[i] = geo
            if not self._updatable_levels_missing(plan):
                plan.parent = None  # nothing more to update from
        return geo

    @staticmethod
    def _updatable(cells: int) -> bool:
        """Whether a level of this many cells updates its geometry from the parent plan's after a stroke or reroll
        (big levels; small ones regroup from scratch, the smallest are dense for single images)."""
        return cells >= _UPDATE_MIN_CELLS and cells > _DENSE_MAX_CELLS

    def _updatable_levels_missing(self, plan: _Plan) -> bool:
        """Whether an updatable level of the plan is still unbuilt: a plan is derived from only when they are all
        built, and keeps its own parent until then (afterwards dropped: no chains of plans)."""
        h, w = plan.kmap.shape
        d = self.downscale
        return any(g is None and self._updatable((h // (d >> i)) * (w // (d >> i))) for i, g in enumerate(plan.levels))

    def _update_geometry(self, km: torch.Tensor, km_p: torch.Tensor, old: _Geometry, u_cap: int) -> _Geometry | None:
        """``old`` (the geometry of ``km_p``) updated for ``km``: cells within 2 of a changed key are regrouped,
        their new patterns appended. ``None`` when a rebuild is due (out of room, or many stale rows)."""
        hl, wl = km.shape
        diff = km != km_p
        rows = diff.any(1).nonzero().squeeze(1)
        if rows.numel() == 0:
            return old
        cols = diff.any(0).nonzero().squeeze(1)
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1

        def grow(k: int) -> tuple[int, int, int, int]:
            return max(0, r0 - k), min(hl, r1 + k), max(0, c0 - k), min(wl, c1 + k)

        # activation patterns of the cells within 1 of a change (their 3x3 keys: the padded map around them)
        a0, a1, b0, b1 = grow(1)
        kp = F.pad(km[None, None], (1, 1, 1, 1), value=u_cap)[0, 0]
        n_used = old.pats3.shape[0]
        local3, new3 = _window_patterns(kp[a0 : a1 + 2, b0 : b1 + 2], u_cap + 1, u_cap + n_used)
        if u_cap + n_used + new3.shape[0] > old.n3:
            return None
        pid3 = old.pid3.clone().view(hl, wl)
        pid3[a0:a1, b0:b1] = local3.view(a1 - a0, b1 - b0)
        # gamma/beta patterns of the cells within 2 of a change
        a0, a1, b0, b1 = grow(2)
        pp = F.pad(pid3[None, None], (1, 1, 1, 1), value=old.n3)[0, 0]
        local5, new5 = _window_patterns(pp[a0 : a1 + 2, b0 : b1 + 2], old.n3 + 1, old.n_rows)
        pid = old.pid.clone().view(hl, wl)
        pid[a0:a1, b0:b1] = local5.view(a1 - a0, b1 - b0)
        pid = pid.view(-1)
        pats5 = torch.cat((old.pats5, new5))
        n_rows = old.n_rows + new5.shape[0]
        if pats5.shape[0] > 256:  # stale pattern rows cost table work: rebuild once most are stale
            live = int((torch.bincount(pid, minlength=n_rows)[old.n3 :] > 0).sum())
            if 2 * live < pats5.shape[0]:
                return None
        return _Geometry(pid, pid3.view(-1), torch.cat((old.pats3, new3)), pats5, old.n3, n_rows)

    # ------------------------------------------------------------------------------------------- tables
    def _gb_tables(self, lvl: _Level, geo: _Geometry, plan: _Plan, layout: NoiseLayout) -> dict[str, torch.Tensor]:
        """Per SPADE of the level: its ``(G, B)`` tables, each (rows, C) in the compute dtype, rows laid out as
        :meth:`_table_index` reads them."""
        b_ = layout.batch
        u = plan.u_cap
        hid = lvl.hidden
        taps = torch.arange(9, device=self.device)
        # per-tap mlp_shared contribution of every key, row u = zero padding: (B, U + 1, 9 * Hcat)
        t = lvl.t_label[plan.key_label][None]
        if plan.key_noise:
            kvec = torch.stack([v[ids] for v, ids in zip(layout.vectors, plan.key_noise)])
            t = t + _matmul(None, kvec.to(self.device).view(b_ * u, -1), lvl.t_noise).view(b_, u, -1)
        else:
            vecs = torch.cat(layout.vectors).to(self.device)  # (B, z)
            t = t + (vecs @ lvl.t_noise)[:, None]
        t = F.pad(t, (0, 0, 0, 1))
        parts = [torch.relu_(t[:, :u].view(b_, u, 9, hid).sum(2).add_(lvl.b_shared))]
        n_pat = geo.pats3.shape[0]
        if n_pat:
            base = (torch.arange(b_, device=self.device) * (u + 1))[:, None, None]
            idx = ((base + geo.pats3[None]) * 9 + taps).view(b_ * n_pat, 9)
            pre = F.embedding_bag(idx, t.view(-1, hid), mode="sum").view(b_, n_pat, hid)
            parts.append(torch.relu_(pre.add_(lvl.b_shared)))
        n3, n5 = geo.n3, geo.pats5.shape[0]
        parts.append(t.new_zeros((b_, n3 + 1 - u - n_pat, hid)))  # free room, and row n3: outside the image
        m_act = b_ * (n3 + 1)
        act = _row_buffer(m_act, hid, self.dtype, self.device)
        act[:m_act].view(b_, n3 + 1, hid).copy_(torch.cat(parts, 1))
        idx5 = None
        if n5:  # the 9 activation rows of every gamma/beta pattern, per image
            idx5 = (geo.pats5[None] + (torch.arange(b_, device=self.device) * (n3 + 1))[:, None, None]).view(-1)
        # table rows: every image's uniform rows (n3 + 1 each, the last one unused), then every image's pattern
        # rows, the first written over the last image's unused row (see _table_index); each block is one matmul
        # written in place, padded rows included (the next block overwrites them)
        m5 = b_ * n5
        start5 = m_act - 1
        size = max(_bucket(m_act), start5 + (_bucket(m5) if n5 else 0))
        out = {}
        for name, sp in lvl.spades.items():
            a = act[:, lvl.slices[name]].contiguous()
            x = None
            if n5:  # the 9 activation rows of every pattern side by side: (B * Q, 9 * hid)
                x = _row_buffer(m5, 9 * sp.hidden, self.dtype, self.device)
                torch.index_select(a, 0, idx5, out=x[:m5].view(-1, sp.hidden))
            maps = []
            for w_sum, w_taps, bias in zip(sp.w_sum, sp.w_taps, sp.bias):
                table = torch.empty((size, sp.channels), dtype=self.dtype, device=self.device)
                torch.addmm(bias, a, w_sum, out=table[: a.shape[0]])
                if n5:
                    torch.addmm(bias, x, w_taps, out=table[start5 : start5 + x.shape[0]])
                maps.append(table)
            out[name] = (maps[0], maps[1])
        return out

    @staticmethod
    def _table_index(geo: _Geometry, b_: int) -> torch.Tensor:
        """(B * h * w,) table row of every pixel of every image (the layout of :meth:`_gb_tables`): image k's
        uniform row r at ``k (n3 + 1) + r``, its pattern q at ``B (n3 + 1) - 1 + k Q + q``. One image: ``pid``."""
        pid = geo.pid
        if b_ == 1:
            return pid
        n3, n5 = geo.n3, geo.n_rows - geo.n3
        pat = pid >= n3
        base = torch.where(pat, pid + (b_ - 1) * (n3 + 1), pid)
        step = torch.where(pat, n5, n3 + 1)
        return (base[None] + torch.arange(b_, device=pid.device)[:, None] * step[None]).reshape(-1)

    # ------------------------------------------------------------------------------------------- forward
    def __call__(
        self,
        channels: torch.Tensor | np.ndarray,
        noise: torch.Tensor | NoiseLayout,
        *,
        label_key: bytes | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> torch.Tensor:
        """``channels`` (H, W) label channels, ``noise`` (B, z, H, W) / (z, H, W) or a layout -> (B, 3, H, W) fp32.

        ``label_key``: a digest of the label map the caller already has (saves hashing it again). ``cancel``:
        asked between the generator's blocks and, on large maps, within them (see :class:`Cancelled`); when it returns
        True the call stops with :class:`Cancelled`.
        """
        with torch.inference_mode(), _num_threads(self.threads):
            channels = torch.as_tensor(channels).to(self.device, torch.long)
            if channels.dim() != 2:
                raise ValueError(f"channels must be (H, W), got {tuple(channels.shape)}")
            h, w = channels.shape
            d = self.downscale
            if h % d or w % d or h < d or w < d:
                raise ValueError(f"the generator needs sizes that are positive multiples of {d}, got {h}x{w}")
            if int(channels.min()) < 0 or int(channels.max()) >= self.semantic_nc:
                raise ValueError(f"label channels must be in [0, {self.semantic_nc})")
            dense = None
            source = noise if isinstance(noise, NoiseLayout) else None  # the caller's tensors: the grain cache key
            if isinstance(noise, NoiseLayout):
                layout = noise.to(self.device)
            else:
                noise = torch.as_tensor(noise)
                if noise.dim() == 3:
                    noise = noise[None]
                if noise.dim() != 4 or noise.shape[1] != self.z_dim or tuple(noise.shape[-2:]) != (h, w):
                    raise ValueError(f"noise must be (B, {self.z_dim}, {h}, {w}), got {tuple(noise.shape)}")
                dense = noise.to(self.device, torch.float32)
                layout = analyse_noise(dense)
            with self._lock:
                self._cancel = cancel
                try:
                    if self.grain_channels:
                        self._grain = self._grain_of(source, layout, dense, h, w)
                    return self._run(channels, layout, dense, label_key, h, w)
                finally:
                    self._cancel = None
                    self._grain = None

    def _stop_if_cancelled(self) -> None:
        if self._cancel is not None and self._cancel():
            raise Cancelled("the generation was cancelled")

    def _between(self) -> Callable[[], None] | None:
        """The check a banded convolution makes before each band: ``None`` (one piece) when nothing can cancel."""
        return None if self._cancel is None else self._stop_if_cancelled

    def _run(
        self,
        channels: torch.Tensor,
        layout: NoiseLayout | None,
        dense: torch.Tensor | None,
        label_key: bytes | None,
        h: int,
        w: int,
    ) -> torch.Tensor:
        """The body of ``__call__``, under its lock."""
        plan = self._plan(channels, layout, label_key) if layout is not None else None
        if plan is None:
            self.stats["dense"] += 1
            if dense is None:
                dense = self._field(layout, h, w)
        n = dense.shape[0] if plan is None else layout.batch
        st = self._stream
        if n == 1:
            # one image and a spare core: the label/noise tables of each level are built beside the trunk
            pipeline = self.cores > 1 and plan is not None
            if pipeline and self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oasis-fast")
            out = self._run_stream(st, channels, plan, layout, dense, 1, pipeline=pipeline)
        else:
            # a batch: one stream whose every op runs on all the cores (intra-op threads), in chunks twice
            # as big. Measured on 2 cores, 8 variants of a lite model: 13 ms per variant, against 15 with
            # one stream of 4 images per core (their thousands of small chunk ops wait for each other's
            # interpreter lock) and 23 with one core.
            with _num_threads(max(self.cores, self.threads) if self.threads is not None else None):
                out = self._run_stream(st, channels, plan, layout, dense, n)
        if plan is not None and not self._updatable_levels_missing(plan):
            plan.parent = None  # built: nothing left to update from
        return out

    def _grain_of(
        self, source: NoiseLayout | None, layout: NoiseLayout | None, dense: torch.Tensor | None, h: int, w: int
    ) -> torch.Tensor:
        """(B, grain_channels, H, W) fp32 per-pixel grain of the noise (:func:`oasis_core.noise.grain`). The last
        call's is kept: painting a scene keeps its noise fields (the same tensors, unchanged), and hashing a 256x256
        field takes ~5 ms. The key holds the caller's tensors (so their identity stays valid), their versions and the
        size; tensors made in inference mode have no version, and their grain is not kept."""
        if layout is None:
            return noise_ops.grain_of_dense(dense, self.grain_channels).to(self.device)
        key = None
        tensors = [] if source is None else [*source.vectors, *(i for i in source.ids if i is not None)]
        if source is not None and not any(t.is_inference() for t in tensors):  # those have no version counter
            bases = [None if i is None else (i if i._base is None else i._base) for i in source.ids]
            key = (h, w, tuple((v, v._version, b, None if b is None else b._version)
                               for v, b in zip(source.vectors, bases)))  # fmt: skip
            c = self._grain_cache
            if c is not None and _same_key(c[0], key):
                return c[1]
        k = self.grain_channels
        grain = torch.stack([noise_ops.grain(v, i, h, w, k).reshape(k, h, w)
                             for v, i in zip(layout.vectors, layout.ids)])  # fmt: skip
        grain = grain.to(self.device)
        if key is not None:
            self._grain_cache = (key, grain)
        return grain

    def _run_stream(
        self,
        st: _Stream,
        channels: torch.Tensor,
        plan: _Plan | None,
        layout: NoiseLayout | None,
        dense: torch.Tensor | None,
        n: int,
        pipeline: bool = False,
    ) -> torch.Tensor:
        """The ``n`` images of the batch on the stream, in chunks of images that fit the workspace budget."""
        h, w = channels.shape
        chunk = max(1, self.workspace_bytes // max(1, self.image_bytes(h, w)))
        outs = []
        try:
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                grain = None if self._grain is None else self._grain[a:b]
                if plan is None:
                    outs.append(self._forward_dense(st, channels, dense[a:b], grain))
                    continue
                sub = NoiseLayout(layout.vectors[a:b], layout.ids[a:b])
                key_noise = plan.key_noise[a:b] if plan.key_noise else []
                sub_plan = dataclasses.replace(plan, key_noise=key_noise)
                outs.append(self._forward_planned(st, channels, sub, sub_plan, grain, pipeline=pipeline))
        finally:
            if st.nbytes > self.workspace_bytes:
                st.clear()
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _field(self, layout: NoiseLayout, h: int, w: int) -> torch.Tensor:
        out = []
        for vec, ids in zip(layout.vectors, layout.ids):
            v = vec.to(self.device)
            out.append(v[0][:, None, None].expand(-1, h, w) if ids is None else v[ids].t().reshape(-1, h, w))
        return torch.stack(out).float()

    def _latent_noise(self, layout: NoiseLayout, h: int, w: int, d: int | None = None) -> torch.Tensor:
        """(B, z, h/d, w/d): the nearest-resized noise field at stride ``d`` (default: the first conv's)."""
        d = self.downscale if d is None else d
        out = []
        for vec, ids in zip(layout.vectors, layout.ids):
            v = vec.to(self.device)
            if ids is None:
                out.append(v[0][:, None, None].expand(-1, h // d, w // d))
            else:
                out.append(v[ids.view(h, w)[::d, ::d]].permute(2, 0, 1))
        return torch.stack(out)

    def _fc(self, channels: torch.Tensor, latent_noise: torch.Tensor) -> torch.Tensor:
        """The first conv at the latent size, in fp32 (tiny): (B, h, w, C0) in the compute dtype."""
        d = self.downscale
        onehot = F.one_hot(channels[::d, ::d], self.semantic_nc).permute(2, 0, 1).float()
        seg = torch.cat((latent_noise.float(), onehot[None].expand(latent_noise.shape[0], -1, -1, -1)), 1)
        return _nhwc(F.conv2d(seg, self.fc_weight, self.fc_bias, padding=1)).to(self.dtype)

    def _prepare_levels(self, plan: _Plan, layout: NoiseLayout, pipeline: bool):
        """``(get, finish)``: ``get(i) -> (geometry, gamma/beta tables)`` of level i, and ``finish()`` to call when
        the forward is over. With ``pipeline`` the levels are built in order on a pool thread (the spare core) while
        the trunk runs, which then waits only for the level it needs next; otherwise each is built when asked for."""

        h, w = plan.kmap.shape

        def prepare(i: int) -> tuple[_Geometry | None, dict[str, torch.Tensor] | None]:
            s = self.downscale >> i
            if layout.batch == 1 and (h // s) * (w // s) <= _DENSE_MAX_CELLS:
                return None, None  # a small level of one image: computed densely by the trunk
            geo = self._geometry(plan, i)
            return geo, self._gb_tables(self.levels[i], geo, plan, layout)

        if not (pipeline and self._pool is not None) or len(self.levels) < 2:
            return prepare, lambda: None
        # level 0 is built here (the trunk needs it at once), the rest in order on the pool thread
        futures: list[Future] = [Future() for _ in self.levels]
        cancelled = threading.Event()

        def produce() -> None:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            with torch.inference_mode():
                for i in range(1, len(futures)):
                    if cancelled.is_set():
                        return
                    try:
                        futures[i].set_result(prepare(i))
                    except BaseException as exc:  # noqa: BLE001 - re-raised in the trunk that waits for it
                        for rest in futures[i:]:
                            rest.set_exception(exc)
                        return

        job = self._pool.submit(produce)

        def finish() -> None:
            """The call is over (done or failed): the producer stops after its current level and is waited for,
            so it never outlives the call that holds the lock."""
            cancelled.set()
            job.exception()

        try:
            futures[0].set_result(prepare(0))
        except BaseException:
            finish()
            raise
        return (lambda i: futures[i].result()), finish

    def _forward_planned(
        self,
        st: _Stream,
        channels: torch.Tensor,
        layout: NoiseLayout,
        plan: _Plan,
        grain: torch.Tensor | None,
        pipeline: bool = False,
    ) -> torch.Tensor:
        level, finish = self._prepare_levels(plan, layout, pipeline)
        try:
            return self._trunk_planned(st, channels, layout, plan, level, grain)
        finally:
            finish()

    def _trunk_planned(
        self, st: _Stream, channels: torch.Tensor, layout: NoiseLayout, plan: _Plan, level, grain: torch.Tensor | None
    ) -> torch.Tensor:
        b_ = layout.batch
        h, w = channels.shape
        x = self._fc(channels, self._latent_noise(layout, h, w))
        for i, lvl in enumerate(self.levels):
            self._stop_if_cancelled()
            geo, tables = level(i)
            if tables is None:
                s = self.downscale >> i
                x, up = self._grained(st, i, lvl, x, grain)
                x = self._block(
                    st, i, lvl, x, self._dense_gb(st, lvl, channels[::s, ::s], self._latent_noise(layout, h, w, s)), up
                )
                continue
            idx = self._table_index(geo, b_)

            def gb(name: str, tables=tables, idx=idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
                return (*tables[name], idx)

            x, up = self._grained(st, i, lvl, x, grain)
            x = self._block(st, i, lvl, x, gb, up)
        return self._head(x, channels, grain)

    def _forward_dense(
        self, st: _Stream, channels: torch.Tensor, noise: torch.Tensor, grain: torch.Tensor | None
    ) -> torch.Tensor:
        d = self.downscale
        x = self._fc(channels, noise[:, :, ::d, ::d])
        for i, lvl in enumerate(self.levels):
            self._stop_if_cancelled()
            s = d >> i
            x, up = self._grained(st, i, lvl, x, grain)
            x = self._block(st, i, lvl, x, self._dense_gb(st, lvl, channels[::s, ::s], noise[:, :, ::s, ::s]), up)
        return self._head(x, channels, grain)

    def _grained(
        self, st: _Stream, i: int, lvl: _Level, x: torch.Tensor, grain: torch.Tensor | None
    ) -> tuple[torch.Tensor, bool]:
        """A block's input with its grain added (upsampled first, into the stream's buffer): ``(x, up)``, ``up``
        telling the block whether it still has to upsample x."""
        up = i > 0
        if lvl.grain_weight is None or grain is None:
            return x, up
        if up:
            x, up = self._upsample(st, x), False
        g = grain_at(grain[:, :1], x.shape[2])[:, 0, :, :, None].to(self.dtype)  # (B, h, w, 1)
        return x.addcmul_(g, lvl.grain_weight), up

    def _dense_gb(self, st: _Stream, lvl: _Level, channels: torch.Tensor, noise: torch.Tensor):
        """A level's SPADE inputs computed densely from its (h, w) label channels and (B, z, h, w) noise: one
        convolution for all its ``mlp_shared``, then per SPADE (on first use) its fused gamma/beta convolution.
        Returns the ``gb(name) -> (G, B, None)`` the trunk reads: per-pixel rows."""
        b_ = noise.shape[0]
        onehot = F.one_hot(channels, self.semantic_nc).to(self.dtype)
        seg = torch.cat((_nhwc(noise).to(self.dtype), onehot[None].expand(b_, -1, -1, -1)), -1)
        check = self._between()
        actv = torch.relu_(lvl.dense_shared(self.dtype)(seg, between=check))  # (B, h, w, Hcat)

        def gb(name: str) -> tuple[torch.Tensor, torch.Tensor, None]:
            sp = lvl.spades[name]
            a = actv[..., lvl.slices[name]].contiguous()
            both = st.get(f"gb{name}", (*a.shape[:3], 2 * sp.channels), self.dtype)  # norm_s and norm_0 are
            both = sp.dense_conv(self.dtype)(a, out=both, between=check)  # read side by side: a buffer each
            both = both.view(-1, 2 * sp.channels)
            return both[:, : sp.channels], both[:, sp.channels :], None

        return gb

    # ------------------------------------------------------------------------------------------- trunk
    def _modulate(self, st: _Stream, sp: _Spade, x: torch.Tensor, gb: tuple, leaky: bool) -> torch.Tensor:
        """``norm(x) * (1 + gamma) + beta`` = ``x * G + B`` (BN folded), then LeakyReLU(0.2) if ``leaky``; into a
        reused buffer.

        ``gb``: ``(G, B, idx)``: every pixel's rows are ``G[idx[pixel]]`` and ``B[idx[pixel]]`` (C columns each);
        or ``(G, B, None)``: the (pixels, C) rows themselves. x: (B, h, w, C). The work goes in chunks of pixels
        that stay in the core's cache: gather the chunk's rows, multiply-add, activate, next chunk. Done map by map,
        each step would stream the whole map through memory (gathered G and B, then x, then the result twice);
        per chunk only x and the result touch memory, about 2.5x faster at these sizes.
        """
        if sp.instance:
            var, mean = torch.var_mean(x.float(), dim=(1, 2), keepdim=True, unbiased=False)
            a = torch.rsqrt(var + sp.eps)
            x = torch.addcmul(-mean * a, x.float(), a).to(x.dtype)
        b_, h, w, c = x.shape
        n = b_ * h * w
        out = st.get("mod", (b_, h, w, c), self.dtype)
        xs, os_ = x.reshape(n, c), out.view(n, c)
        step = self._chunk(n, c)
        rows = _RowGather(st, gb, step, c, self.dtype)
        for k, s in enumerate(range(0, n, step)):
            if k % _CHECK_CHUNKS == _CHECK_CHUNKS - 1:
                self._stop_if_cancelled()
            e = min(n, s + step)
            g, b = rows(s, e)
            o = torch.addcmul(b, xs[s:e], g, out=os_[s:e])
            if leaky:
                F.leaky_relu_(o, 0.2)
        return out

    def _chunk(self, n: int, c: int) -> int:
        """Pixels per chunk of a fused pass over ``n`` pixels of ``c`` channels: cache-sized on CPUs (scaled by the
        intra-op threads that share the work), the whole map on GPUs (one kernel launch per step)."""
        if self.device.type != "cpu":
            return n
        return min(n, max(64, _CHUNK_VALUES * torch.get_num_threads() // c))

    def _up_index(self, st: _Stream, b_: int, h0: int, w0: int) -> torch.Tensor:
        """Row of the (B * h0 * w0, C) map that each pixel of its nearest x2 upsampling reads (cached per stream)."""
        key = (b_, h0, w0)
        idx = st.up_index.get(key)
        if idx is None:
            rows = torch.arange(2 * h0, device=self.device) // 2
            cols = torch.arange(2 * w0, device=self.device) // 2
            img = torch.arange(b_, device=self.device)[:, None, None] * h0
            idx = st.up_index[key] = ((img + rows[None, :, None]) * w0 + cols[None, None, :]).reshape(-1)
        return idx

    def _upsample(self, st: _Stream, x: torch.Tensor) -> torch.Tensor:
        """x2 of an NHWC tensor into a reused buffer: nearest as a row gather (fast for any channel count), or
        bilinear (half-pixel centres, as the eager generator)."""
        b_, h0, w0, c = x.shape
        out = st.get("up", (b_, 2 * h0, 2 * w0, c), x.dtype)
        if self.upsample == "bilinear":
            up = F.interpolate(_nchw(x), scale_factor=2.0, mode="bilinear", align_corners=False)
            out.copy_(up.permute(0, 2, 3, 1))
            return out
        torch.index_select(x.reshape(-1, c), 0, self._up_index(st, b_, h0, w0), out=out.view(-1, c))
        return out

    def _shortcut_pass(
        self, st: _Stream, i: int, lvl: _Level, x: torch.Tensor, gb, up: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A block's input side in one pass over chunks of pixels: (upsample x,) norm_s and the 1x1 shortcut into
        the residual, norm_0 and LeakyReLU into conv_0's input. The upsampled x and norm_s's output never leave the
        cache (a bilinear upsampling is a pass of its own first). Returns (residual, conv_0 input)."""
        if up and self.upsample != "nearest":
            x, up = self._upsample(st, x), False  # the fused pass then reads the upsampled map
        b_, h0, w0, c = x.shape
        hl, wl = (2 * h0, 2 * w0) if up else (h0, w0)
        n = b_ * hl * wl
        res = st.get(f"res{i % 2}", (b_, hl, wl, lvl.fout), self.dtype)
        m0 = st.get("mod", (b_, hl, wl, c), self.dtype)
        xs, rs, ms = x.reshape(-1, c), res.view(n, -1), m0.view(n, c)
        up_idx = self._up_index(st, b_, h0, w0) if up else None
        step = self._chunk(n, c)
        rows_s = _RowGather(st, gb("s"), step, c, self.dtype)
        rows_0 = _RowGather(st, gb("0"), step, c, self.dtype)  # the same buffers: used one after the other
        xbuf = st.get("xrows", (step, c), self.dtype)
        sbuf = st.get("srows", (step, c), self.dtype)
        for k, s in enumerate(range(0, n, step)):
            if k % _CHECK_CHUNKS == _CHECK_CHUNKS - 1:
                self._stop_if_cancelled()
            e = min(n, s + step)
            xc = torch.index_select(xs, 0, up_idx[s:e], out=xbuf[: e - s]) if up else xs[s:e]
            g, b = rows_s(s, e)
            torch.mm(torch.addcmul(b, xc, g, out=sbuf[: e - s]), lvl.w_s, out=rs[s:e])
            g, b = rows_0(s, e)
            F.leaky_relu_(torch.addcmul(b, xc, g, out=ms[s:e]), 0.2)
        return res, m0

    def _block(self, st: _Stream, i: int, lvl: _Level, x: torch.Tensor, gb, up: bool) -> torch.Tensor:
        """One SPADE residual block on NHWC tensors; ``up``: x is at half resolution (upsampled here first)."""
        fused = lvl.w_s is not None and not (lvl.spades["s"].instance or lvl.spades["0"].instance)
        if fused:
            res, dx = self._shortcut_pass(st, i, lvl, x, gb, up)
        else:
            if up:
                x = self._upsample(st, x)
            b_, hl, wl, _ = x.shape
            if lvl.learned_shortcut:
                res = st.get(f"res{i % 2}", (b_, hl, wl, lvl.fout), self.dtype)
                m = self._modulate(st, lvl.spades["s"], x, gb("s"), leaky=False)
                if lvl.conv_s is not None:
                    lvl.conv_s(m, out=res)
                else:
                    torch.mm(m.view(-1, lvl.fin), lvl.w_s, out=res.view(-1, lvl.fout))
            else:
                res = x  # the residual: a buffer of ours, read by norm_0 before conv_1 adds into it
            dx = self._modulate(st, lvl.spades["0"], x, gb("0"), leaky=True)
        b_, hl, wl, _ = res.shape
        # the large levels take seconds: their convolutions go in bands of rows with a cancel check before each
        check = self._between()
        dx = lvl.conv_0(dx, out=st.get("d0", (b_, hl, wl, lvl.fmiddle), self.dtype), between=check)
        dx = self._modulate(st, lvl.spades["1"], dx, gb("1"), leaky=True)
        return lvl.conv_1(dx, out=res, accumulate=True, between=check)

    def _head(self, x: torch.Tensor, channels: torch.Tensor, grain: torch.Tensor | None) -> torch.Tensor:
        """``conv_img`` and tanh, with the output grain (its amplitude per pixel's class times grain channels 1-3)
        added in between: the convolution accumulates onto it."""
        x = F.leaky_relu_(x, 0.2)
        if self.grain_rgb is None or grain is None:
            y = self.conv_img(x, tanh=True, between=self._between())  # (B, H, W, 3); x: workspace
            return y.permute(0, 3, 1, 2).float()
        noise = self.grain_rgb[channels.to(self.device, torch.long)] * grain[:, 1:4].permute(0, 2, 3, 1)  # (B, H, W, 3)
        y = self.conv_img(x, out=noise.to(self.dtype).contiguous(), accumulate=True, between=self._between())
        return torch.tanh_(y.permute(0, 3, 1, 2).float())
