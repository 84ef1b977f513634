"""Mountain ranges and hills: ridge lines, shading, snow lines and the trees on their slopes."""

from __future__ import annotations

import math

import numpy as np

from train.landscapes.frame import GRASS, MOUNTAIN, SNOW, TREE, Frame
from train.landscapes.shapes import hsv_jitter, noise_tiles, smoothstep
from train.landscapes.textures import bilinear, mip_levels, mip_sample


def draw_terrain(frame: Frame, kind: str) -> None:
    """A heightfield range (``kind`` "mountain" or "hill") ray-marched column by column (voxel-space style).

    Mountains are labelled mountain/snow, hills grass/tree by a cover map. Normals from the heightfield give
    the shading; snow lies above an altitude where the slope is gentle enough.
    """
    rng = frame.rng
    H, W = frame.H, frame.W
    hy, f, ch = frame.hy, frame.f, frame.cam_h
    mountain = kind == "mountain"
    if mountain:
        d0 = rng.uniform(2500, 9000)
        d1 = d0 * rng.uniform(5, 12)
        target_px = max(hy, 8.0) * rng.uniform(0.22, 0.85)
        amp = target_px * d0 * rng.uniform(1.4, 2.2) / f
        tile_m = rng.uniform(14000, 30000) * (d0 / 5000) ** 0.5
    else:
        d0 = rng.uniform(350, 1500)
        d1 = d0 * rng.uniform(4, 10)
        target_px = max(hy, 8.0) * rng.uniform(0.05, 0.2)
        amp = target_px * d0 * rng.uniform(1.3, 2.0) / f
        tile_m = rng.uniform(1500, 5000)
    n_big, n_mod = (mip_levels(a, 8) for a in noise_tiles(rng, 256, 4.2))
    n_det, n_cov = (mip_levels(a, 8) for a in noise_tiles(rng, 128, 3.0))
    ox, oz = rng.uniform(0, 1e5, 2)
    k = 256.0 / tile_m
    forest_thr = rng.uniform(-0.8, 0.8) if frame.forest else 9.0
    sharp = rng.uniform(0.35, 0.65)

    def height(u: np.ndarray, d: np.ndarray) -> np.ndarray:
        s = (u + ox) * k
        t = (d + oz) * k
        lod = np.log2(np.maximum(d / f * k, 1e-6)) + 0.5  # tile texels per pixel at that distance
        n = mip_sample(n_big, s, t, lod)
        m = mip_sample(n_mod, s * 0.5, t * 0.5, lod - 1)
        det = mip_sample(n_det, s * 2.5, t * 2.5, lod + 1.32)
        if mountain:
            r = np.clip(1.0 - np.abs(n) * sharp, 0.0, 1.0) ** 1.25
            body = np.clip(0.5 + 0.3 * m, 0.0, 1.0)
            h = amp * (0.35 * body + 0.65 * r * (0.55 + 0.45 * np.clip(m, -1, 1))) + amp * 0.04 * det
        else:
            h = amp * (0.5 + 0.3 * n + 0.2 * m) + amp * 0.08 * det
            cov = bilinear(n_cov[0], s * 1.5, t * 1.5)
            h = h + smoothstep(forest_thr, forest_thr + 0.3, cov) * 0.25 * amp * (0.8 + 0.2 * det)
        return np.maximum(h, 0.0) * smoothstep(d0, d0 * 1.6, d)

    steps = 200
    ds = d0 * (d1 / d0) ** np.linspace(0.0, 1.0, steps)
    xc = frame.xs[0]
    uu = (xc[None, :] - W / 2) * ds[:, None] / f
    dd = np.broadcast_to(ds[:, None], uu.shape)
    hh = height(uu.ravel(), dd.ravel()).reshape(uu.shape)
    yraw = hy - f * (hh - ch) / ds[:, None]
    ybuf = np.minimum.accumulate(yraw, axis=0)
    # pixel (y, x) is terrain hit at the first step whose running silhouette reaches it
    top = int(min(H, math.ceil(hy) + 1))
    if top <= 0:
        return
    span = float(H + np.abs(ybuf).max() + 10.0)
    keys = (np.arange(W)[:, None] * 4 * span - ybuf.T).ravel()
    ys = frame.ys[:top]
    q = (np.arange(W)[None, :] * 4 * span - ys).ravel()
    idx = np.searchsorted(keys, q, side="left").reshape(top, W) - np.arange(W)[None, :] * steps
    hit = (idx < steps) & (frame.ys[:top] < hy + 1.0)
    if not hit.any():
        return
    yi, xi = np.nonzero(hit)
    i = idx[yi, xi]
    yc = ys[yi, xi]
    # refine the distance between the previous and the hitting step
    ip = np.maximum(i - 1, 0)
    yprev = np.where(i > 0, ybuf[ip, xi], yraw[i, xi] - 1.0)
    frac = np.clip((yprev - yc) / np.maximum(yprev - yraw[i, xi], 1e-6), 0.0, 1.0)
    d = ds[ip] + (ds[i] - ds[ip]) * np.where(i > 0, frac, 1.0)
    x = frame.xs[yi, xi]
    u = (x - W / 2) * d / f
    h = height(u, d)
    e = np.maximum(tile_m / 256.0, d / f)
    hu = (height(u + e, d) - height(u - e, d)) / (2 * e)
    hd = (height(u, d + e) - height(u, d - e)) / (2 * e)
    norm = np.sqrt(hu * hu + hd * hd + 1.0)
    nx, ny, nz = -hu / norm, 1.0 / norm, -hd / norm
    sun = frame.sun_dir
    direct = np.clip(nx * sun[0] + ny * sun[1] + nz * sun[2], 0.0, None)
    sky_light = frame.ambient * (0.55 + 0.45 * ny)
    light = direct[:, None] * frame.sun_col * (1 - frame.ambient) * 1.25 + sky_light[:, None] * frame.amb_col
    labels = np.empty(len(x), np.uint8)
    c = np.empty((len(x), 3), np.float32)
    tex_k = 256.0 / (rng.uniform(500, 1500) if mountain else rng.uniform(150, 500))
    lod = np.log2(np.maximum(d / f * tex_k, 1e-6))
    if mountain:
        tex = frame.bank.pick(rng, "mountain")
        c = tex.sample(u * tex_k, h * tex_k * 1.5, lod)
        desert = frame.ground_kind == "sand"
        target = np.array([0.62, 0.45, 0.32] if desert else [0.42, 0.40, 0.38], np.float32)
        target = hsv_jitter(target, rng, 0.06, 0.2, 0.15)
        c = c / (tex.mean + 1e-3) * (0.3 * tex.mean + 0.7 * target)
        if frame.forest and not desert:
            veg_h = amp * rng.uniform(0.1, 0.4)
            vn = bilinear(n_cov[0], u * k * 3, d * k * 3)
            veg = smoothstep(0.0, 1.0, (veg_h - h) / (0.15 * amp) + 0.5 * vn)
            veg = veg * smoothstep(0.55, 0.8, ny)
            c = c + (frame.tree_colour() * 0.8 - c) * (veg * 0.85)[:, None]
        labels[:] = MOUNTAIN
        if frame.has_snow and not desert:
            snow_h = amp * frame.snow_frac
            sn = bilinear(n_cov[0], u * k * 4, d * k * 4)
            snow = (h > snow_h + amp * 0.08 * sn) & (ny > 0.42 + 0.12 * sn)
            if snow.any():
                st = frame.snow_tex
                sc = st.sample(u[snow] * tex_k * 2, d[snow] * tex_k * 2, lod[snow] + 1)
                c[snow] = sc / (st.mean + 1e-3) * 0.95
                labels[snow] = SNOW
    else:
        cov = bilinear(n_cov[0], (u + ox) * k * 1.5, (d + oz) * k * 1.5)
        forest = cov > forest_thr + 0.15
        labels[:] = np.where(forest, TREE, GRASS)
        tg = frame.bank.pick(rng, "grass")
        tf = frame.bank.pick(rng, "foliage")
        if (~forest).any():
            cg = tg.sample(u[~forest] * tex_k * 4, d[~forest] * tex_k * 4, lod[~forest] + 2)
            c[~forest] = cg / (tg.mean + 1e-3) * frame.grass_colour()
        if forest.any():
            cf = tf.sample(u[forest] * tex_k * 8, h[forest] * tex_k * 8, lod[forest] + 3)
            c[forest] = cf / (tf.mean + 1e-3) * frame.tree_colour()
    col = c * light
    col = frame.haze(col, d)
    frame.img[yi, xi] = col
    frame.lab[yi, xi] = labels
    frame.dist[yi, xi] = d
