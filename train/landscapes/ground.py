"""The ground plane (meadows, sand, dirt or rock, paths and patches, textured through a ground-plane projection)
and water (lakes and sea, with reflections)."""

from __future__ import annotations

import math

import numpy as np

from train.landscapes.frame import DIRT, GRASS, ROCK, SAND, WATER, Frame
from train.landscapes.shapes import hsv_jitter, noise_tiles, smoothstep
from train.landscapes.textures import TILE, bilinear


def draw_ground(frame: Frame) -> None:
    rng = frame.rng
    H, W = frame.H, frame.W
    hy = frame.hy
    y0 = int(math.floor(hy))
    frame.y0 = y0
    frame.water = np.zeros((H, W), bool)
    if y0 >= H:
        return
    ys = frame.ys[y0:]
    xs = frame.xs[y0:]
    yy = np.maximum(ys - hy, 0.3)
    z = np.minimum(frame.f * frame.cam_h / yy, 50000.0)  # distance along the ground, metres
    u = (xs - W / 2) / frame.f * z  # lateral position, metres
    a = (xs - W / 2) / frame.f
    lz = np.log(z)
    n1, n2 = noise_tiles(rng, 128, 3.0)
    m1, m2 = noise_tiles(rng, 128, 2.4)
    uf, zf = u.ravel(), z.ravel()

    def gnoise(tile: np.ndarray, metres: float, off: float = 0.0) -> np.ndarray:
        k = 128.0 / metres
        v = bilinear(tile, uf * k + off, zf * k + off * 0.7)
        v += 0.18 * bilinear(tile, uf * (k * 7.3) + off * 3, zf * (k * 7.3))  # ragged edges at all scales
        return v.reshape(u.shape)

    base_cls = {"grass": GRASS, "sand": SAND, "dirt": DIRT, "rock": ROCK}[frame.ground_kind]
    lab = np.full(u.shape, base_cls, np.uint8)
    if frame.ground_kind == "rock":
        lab[gnoise(n1, rng.uniform(20, 60)) > rng.uniform(-0.2, 0.6)] = GRASS
    elif frame.ground_kind == "sand":
        lab[gnoise(n1, rng.uniform(30, 90)) > rng.uniform(0.6, 1.5)] = GRASS
    elif frame.ground_kind == "dirt":
        lab[gnoise(n1, rng.uniform(10, 50)) > rng.uniform(-0.3, 0.8)] = GRASS
    if frame.dirt_patches:
        lab[gnoise(n2, rng.uniform(6, 30), 31.0) > rng.uniform(0.8, 1.6)] = DIRT
    if frame.rock_patches:
        lab[gnoise(m1, rng.uniform(5, 25), 7.0) > rng.uniform(1.0, 1.8)] = ROCK
    if frame.path:
        zmax = rng.uniform(30, 400)
        zc = np.minimum(z, zmax)
        amp = rng.uniform(1, 8)
        centre = rng.uniform(-3, 3) + amp * np.sin(zc / rng.uniform(8, 30) + rng.uniform(0, 6.3))
        centre += rng.uniform(-0.15, 0.15) * zc
        half = rng.uniform(0.4, 1.2) * (1 + 0.25 * gnoise(m2, 4.0, 3.0))
        lab[(np.abs(u - centre) < half) & (z < zmax)] = DIRT
    # lake or sea: a smooth field in (screen angle, log distance) with a wiggly ground-space shoreline
    water = np.zeros(u.shape, bool)
    if frame.water_kind != "none":
        wn = gnoise(m2, rng.uniform(15, 60), 13.0) * 0.6 + gnoise(m1, rng.uniform(3, 8), 5.0) * 0.06
        if frame.water_kind == "sea":
            zn = rng.uniform(6, 60)
            field = (lz - math.log(zn)) * 1.2 + wn * 0.5
        else:
            zn = rng.uniform(4, 40)
            zfar = 1e7 if rng.random() < 0.2 else zn * math.exp(rng.uniform(1.0, 3.5))
            lc = 0.5 * (math.log(zn) + math.log(zfar))
            rl = 0.5 * (math.log(zfar) - math.log(zn))
            ac = rng.uniform(-0.4, 0.4)
            ra = rng.uniform(0.35, 1.6)
            p = np.abs((a - ac) / ra)
            q = np.abs((lz - lc) / rl)
            field = 1.0 - (p**4 + q**4) ** 0.25 + wn * 0.1
        water = field > 0
        band = rng.uniform(0.03, 0.2) * (1.0 + 0.7 * np.clip(gnoise(n2, 25.0, 9.0), -1, 1))
        shore = (field > -band) & ~water
        r = rng.random()
        lab[shore] = SAND if r < 0.72 else (ROCK if r < 0.86 else GRASS)
        lab[water] = WATER
    # textures by class, sampled through the ground-plane projection with mip-mapping
    col = np.zeros(u.shape + (3,), np.float32)
    fx = frame.f
    foot_h = z / fx
    foot_v = z * z / (fx * frame.cam_h)
    texel_m = foot_h**0.75 * foot_v**0.25  # between the horizontal and vertical footprints
    macro = gnoise(n1, rng.uniform(15, 50), 40.0) * 0.7 + gnoise(n2, rng.uniform(3, 8), 20.0) * 0.3
    hue_n = gnoise(m1, rng.uniform(10, 40), 60.0)
    cloud_shadow = 1.0 - 0.25 * smoothstep(0.2, 1.2, gnoise(m2, rng.uniform(80, 250), 90.0)) * (
        frame.cloud_cover > 0.15
    )
    targets = {
        GRASS: frame.grass_colour(),
        SAND: hsv_jitter((0.72, 0.63, 0.47), rng, 0.05, 0.2, 0.1),
        DIRT: hsv_jitter((0.40, 0.31, 0.22), rng, 0.06, 0.2, 0.15),
        ROCK: hsv_jitter((0.48, 0.46, 0.44), rng, 0.04, 0.15, 0.15),
    }
    roles = {GRASS: "grass", SAND: "sand", DIRT: "dirt", ROCK: "rock"}
    tiles = {GRASS: (1.0, 2.2), SAND: (1.0, 3.0), DIRT: (0.8, 2.0), ROCK: (0.8, 2.5)}
    for cls in (GRASS, SAND, DIRT, ROCK):
        sel = lab == cls
        if not sel.any():
            continue
        c = np.zeros((int(sel.sum()), 3), np.float32)
        mix = smoothstep(-0.6, 0.6, gnoise(n2, rng.uniform(8, 40), 50.0 + cls)[sel])
        for j in range(2):
            tex = frame.bank.pick(rng, roles[cls])
            tm = rng.uniform(*tiles[cls])
            k = TILE / tm
            ang = rng.uniform(0, 2 * math.pi)
            ca, sa = math.cos(ang), math.sin(ang)
            uu, zz = u[sel], z[sel]
            su = (uu * ca - zz * sa) * k + rng.uniform(0, 256)
            sz = (uu * sa + zz * ca) * k
            lod = np.log2(np.maximum(texel_m[sel] * k, 1e-6)) + 0.2
            t1 = tex.sample(su, sz, lod)
            tgt = targets[cls] * (hsv_jitter((1.0, 1.0, 1.0), rng, 0.06, 0.15, 0.12) if j else 1.0)
            ratio = t1 / (tex.mean + 1e-3)
            ratio = 0.45 * ratio + 0.55 * ratio.mean(axis=1, keepdims=True)  # tame the tiles' colour speckle
            t1 = ratio * (0.6 * tgt + 0.4 * tex.mean)
            w = mix if j == 0 else 1.0 - mix
            c += t1 * w[:, None]
        mac = np.clip(macro[sel], -2.5, 2.5)
        c *= (1.0 + 0.2 * mac)[:, None]
        if cls == GRASS:  # patches of drier, yellower grass
            c *= 1.0 + 0.12 * np.clip(hue_n[sel], -2, 2)[:, None] * np.array([1.0, 0.35, -0.9], np.float32)
        col[sel] = c
    # light: sun on a flat ground plus sky light, cloud shadows
    direct = max(float(frame.sun_dir[1]), 0.0)
    light = frame.sun_col * (1 - frame.ambient) * 1.25 * direct + frame.ambient * frame.amb_col
    col *= light * cloud_shadow[..., None]
    col = frame.haze(col, z)
    land = lab != WATER
    frame.img[y0:][land] = col[land]
    frame.lab[y0:] = lab
    frame.dist[y0:] = z
    frame.ground_z = z
    frame.ground_u = u
    frame.water[y0:] = water
    frame.water_tile = m1


def draw_water(frame: Frame) -> None:
    """Reflections: every pixel above the water is mirrored about the water line at its own distance
    (row ``2 * b - y`` where ``b`` is the row of the water surface under it), nearest first; then ripples,
    a vertical smear, darkening, a tint toward the water colour and a little wave texture."""
    rng = frame.rng
    water = frame.water & (frame.lab == WATER)
    if not water.any():
        return
    H, W = frame.H, frame.W
    hy, f, ch = frame.hy, frame.f, frame.cam_h
    # the distant mirror (everything at infinity reflects about the horizon) as the fallback
    rows = np.clip(np.floor(2 * hy - frame.ys[:, 0]).astype(np.int64), 0, H - 1)
    refl = frame.img[rows].copy()
    # splat what stands above the water at its own mirror row, the nearest source winning
    src = ~frame.water
    sy, sx = np.nonzero(src)
    dist = frame.dist[sy, sx]
    b = hy + f * ch / np.maximum(dist, 1e-3)
    ty = np.floor(2 * b - (sy + 0.5)).astype(np.int64)
    ok = (ty > sy) & (ty < H)
    sy, sx, ty, dist = sy[ok], sx[ok], ty[ok], dist[ok]
    ok = water[ty, sx]
    sy, sx, ty, dist = sy[ok], sx[ok], ty[ok], dist[ok]
    if len(sy):
        key = ty * W + sx
        order = np.lexsort((dist, key))
        _, first = np.unique(key[order], return_index=True)
        win = order[first]
        refl[ty[win], sx[win]] = frame.img[sy[win], sx[win]]
    yi, xi = np.nonzero(water)
    z = frame.ground_z[yi - frame.y0, xi]
    u = frame.ground_u[yi - frame.y0, xi]
    near = np.clip((yi + 0.5 - hy) / max(H - hy, 1.0), 0, 1)
    calm = rng.uniform(0.0, 1.0) ** 1.5
    # ripples: a smooth horizontal displacement, stronger close to the viewer
    tile = frame.water_tile
    wave = bilinear(tile, u * rng.uniform(6, 20), z * rng.uniform(30, 90))
    shift = wave * (0.2 + 2.5 * near) * (0.3 + 2.0 * calm)
    xs = np.clip(xi + shift, 0, W - 1.001)
    x0 = np.floor(xs).astype(np.int64)
    fr = (xs - x0)[:, None].astype(np.float32)
    r = refl[yi, x0] * (1 - fr) + refl[yi, x0 + 1] * fr
    # vertical smear (wave facets reflect a range of rows)
    ya = np.clip(yi - 1, 0, H - 1)
    yb = np.clip(yi + 1, 0, H - 1)
    sm = 0.25 + 0.5 * calm
    r = r * (1 - sm) + 0.5 * sm * (refl[ya, x0] + refl[yb, x0])
    tint = hsv_jitter((0.10, 0.20, 0.24), rng, 0.2, 0.3, 0.3)
    dark = rng.uniform(0.6, 0.88)
    fres = (0.55 + 0.4 * (1 - near) ** 2)[:, None]  # grazing angles reflect more
    col = r * dark * fres + tint * (1 - fres)
    tex = frame.bank.pick(rng, "water")
    k = TILE / rng.uniform(2.0, 6.0)
    lod = np.log2(np.maximum(z / f * np.sqrt(z / ch) * k, 1e-6))
    wt = tex.sample(u * k, z * k * 0.5, lod).mean(1) / (tex.mean.mean() + 1e-3) - 1.0
    col = col * (1 + (0.12 * wt + 0.06 * wave * calm)[:, None])
    col = frame.haze(col, z)
    frame.img[yi, xi] = col
