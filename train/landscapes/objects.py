"""Objects on the ground: where trees and rocks stand, and how each is drawn (broadleaf and conifer trees,
boulders), far to near."""

from __future__ import annotations

import math

import numpy as np

from train.landscapes.frame import DIRT, GRASS, ROCK, SAND, SNOW, TREE, Frame
from train.landscapes.shapes import hsv_jitter
from train.landscapes.textures import Texture


def place_objects(frame: Frame) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Trees and boulders as groups ``(kind, distance, base row, centre x, conifer, height m)``, one group per
    forest row, single tree or boulder, sorted far to near by the group's first distance."""
    rng = frame.rng
    W = frame.W
    hy, f, ch = frame.hy, frame.f, frame.cam_h
    groups = []

    def trees(z: np.ndarray, us: np.ndarray) -> None:
        conifer = rng.random(len(us)) < frame.conifer_share
        hm = np.where(conifer, rng.uniform(9, 24, len(us)), rng.uniform(6, 16, len(us)))
        groups.append(("tree", z, hy + f * ch / z, W / 2 + us / z * f, conifer, hm))

    if frame.forest:
        for _ in range(int(rng.integers(1, 3))):
            z_far = rng.uniform(120, 1500)
            z_near = z_far * rng.uniform(0.25, 0.8)
            a0 = rng.uniform(-1.0, 0.6)
            a1 = a0 + rng.uniform(0.4, 2.0)
            if rng.random() < 0.35:
                a0, a1 = -2.0, 2.0
            spacing = rng.uniform(3.0, 7.0)
            z = z_far
            while z > z_near:
                # one row of the forest: trees every ``spacing`` metres across its lateral span
                u0, u1 = max(a0, -0.6) * z, min(a1, 0.6) * z
                n = min(int((u1 - u0) / spacing), 500)
                if n > 0:
                    trees(z * rng.uniform(0.97, 1.03, n), rng.uniform(u0, u1, n))
                z *= rng.uniform(0.7, 0.9)
        for _ in range(int(rng.integers(0, 5))):  # a few single trees in front
            z = rng.uniform(12, 80)
            trees(np.array([z]), np.array([rng.uniform(-0.6, 0.6) * z]))
    if frame.boulders:
        for _ in range(int(rng.integers(2, 14))):
            z = np.array([math.exp(rng.uniform(math.log(6), math.log(150)))])
            u = rng.uniform(-0.6, 0.6) * z
            groups.append(("rock", z, hy + f * ch / z, W / 2 + u / z * f, np.zeros(1, bool), np.zeros(1)))
    groups.sort(key=lambda g: -float(g[1][0]))
    return groups


def draw_tree_batch(frame: Frame, z, yb, cx, conifer, hm, tex: Texture) -> None:
    """Small, distant trees of one forest row in one vectorised pass (canopy silhouettes)."""
    rng = frame.rng
    H, W = frame.H, frame.W
    h = frame.f * hm / z
    w = h * np.where(conifer, rng.uniform(0.3, 0.45, len(h)), rng.uniform(0.6, 0.95, len(h)))
    x0 = int(max(0, math.floor((cx - w / 2).min())))
    x1 = int(min(W, math.ceil((cx + w / 2).max())))
    y0 = int(max(0, math.floor((yb - h).min())))
    y1 = int(min(H, math.ceil(yb.max())))
    if x0 >= x1 or y0 >= y1:
        return
    X = frame.xs[0, x0:x1]
    d = (X[None, :] - cx[:, None]) / (w[:, None] / 2)
    inside = np.abs(d) < 1.0
    shape = np.where(conifer[:, None], 1.0 - np.abs(d), np.sqrt(np.clip(1.0 - d * d, 0.0, 1.0)) * 0.9 + 0.1)
    toprow = np.where(inside, yb[:, None] - h[:, None] * shape, np.inf)
    win = toprow.argmin(0)
    cols = np.arange(x1 - x0)
    top = toprow[win, cols]
    base = yb[win]
    yg = frame.ys[y0:y1, x0:x1]
    mask = (yg >= top[None, :]) & (yg < base[None, :]) & np.isfinite(top)[None, :]
    if not mask.any():
        return
    yi, xi = np.nonzero(mask)
    wt = win[xi]
    nx = d[wt, xi]
    tb = np.clip((base[xi] - yg[yi, xi]) / np.maximum(h[wt], 1.0), 0, 1)  # 0 at the base, 1 at the top
    bright = rng.uniform(0.8, 1.2, len(h)).astype(np.float32)
    tint = np.where(conifer[:, None], np.array([0.8, 0.95, 1.0]), np.array([1.3, 1.32, 1.0])).astype(np.float32)
    leaf = frame.tex_screen(tex, X[xi], yg[yi, xi], float(np.clip(z.mean() / frame.f * 64.0, 0.5, 64)))
    detail = 1.0 + (leaf / (tex.mean + 1e-3) - 1.0) * 0.5
    c = frame.tree_colour() * tint[wt] * bright[wt, None] * detail
    light = frame.light(nx, 0.1 + 0.4 * tb) * (0.7 + 0.3 * tb)[:, None]
    c = frame.haze(c * light, z[wt])
    gy, gx = yi + y0, xi + x0
    frame.img[gy, gx] = c
    frame.lab[gy, gx] = TREE
    frame.dist[gy, gx] = z[wt]


def draw_tree(frame: Frame, yb: float, cx: float, z: float, conifer: bool, height_m: float, tex: Texture) -> None:
    rng = frame.rng
    H, W = frame.H, frame.W
    kind = "conifer" if conifer else "broadleaf"
    h = frame.f * height_m / z
    if h < 1.2:
        return
    w = h * (rng.uniform(0.28, 0.42) if kind == "conifer" else rng.uniform(0.6, 0.95))
    x0 = int(max(0, math.floor(cx - w * 0.7 - 1)))
    x1 = int(min(W, math.ceil(cx + w * 0.7 + 1)))
    y0 = int(max(0, math.floor(yb - h - 1)))
    y1 = int(min(H, math.ceil(yb)))
    if x0 >= x1 or y0 >= y1:
        return
    xs = frame.xs[y0:y1, x0:x1]
    ys = frame.ys[y0:y1, x0:x1]
    t = (yb - ys) / h  # 0 at the base, 1 at the top
    dx = xs - cx
    trunk_w = max(0.6, w * 0.06)
    big = h > 10
    # foliage detail: leaves have a fixed size in the world, so the texture scale follows the distance
    scale = float(np.clip(z / frame.f * 64.0, 0.5, 64.0))  # a 4 m tile
    if big:
        leaf = frame.tex_screen(tex, (xs + cx * 3.1).ravel(), (ys + cx).ravel(), scale).reshape(xs.shape + (3,))
        detail = leaf / (tex.mean + 1e-3)
        lum = frame.tex_screen(tex, (xs * 0.5 + cx).ravel(), (ys * 0.5).ravel(), scale * 2.0).mean(1)
        rough = np.clip(lum.reshape(xs.shape) / (tex.mean.mean() + 1e-3) - 1.0, -1.0, 0.5)
    else:
        detail = None
        rough = 0.0
    if kind == "conifer" and h > 40:
        trunk_top = rng.uniform(0.03, 0.1)
        crown, nx, up, occl = conifer_branches(frame, dx, ys, yb, h, w, trunk_top, rough)
        tint = np.array([0.8, 0.95, 1.0], np.float32)
    elif kind == "conifer":
        trunk_top = rng.uniform(0.03, 0.12)
        tc = np.clip((t - trunk_top) / (1 - trunk_top), 0, 1)
        tiers = rng.uniform(6, 14) if big else 3.0
        ph = rng.uniform(0, 1)
        tier_pos = (tc * tiers + ph) % 1.0  # 0 at the bottom of a tier, 1 at its top
        env = w / 2 * (1 - tc) ** rng.uniform(0.85, 1.1)
        knots = rng.uniform(0.55, 1.0, (2, 40))
        grid = np.linspace(0, 1, 40)
        left = np.interp(tc, grid, knots[0])
        right = np.interp(tc, grid, knots[1])
        branch = np.where(dx < 0, left, right)
        half = env * branch * (0.8 + 0.2 * (1 - tier_pos)) * (1 + 0.2 * rough)
        crown = (np.abs(dx) <= half) & (t >= trunk_top) & (t <= 1)
        nx = np.clip(dx / np.maximum(env, 0.5), -1, 1)
        up = 0.5 - 0.45 * (1 - tier_pos) ** 2  # the top of each tier catches the light
        occl = 0.65 + 0.35 * np.clip(np.abs(nx) * 0.5 + tc, 0, 1)
        tint = np.array([0.8, 0.95, 1.0], np.float32)
    else:
        cy = yb - h * rng.uniform(0.58, 0.66)
        ry = h * rng.uniform(0.32, 0.4)
        rx = w / 2
        if big:
            huge = h > 40
            n_cl = int(rng.integers(16, 30)) if huge else int(rng.integers(6, 13))
            ang = rng.uniform(0, 2 * math.pi, n_cl)
            rad = np.sqrt(rng.uniform(0, 1, n_cl)) * (0.72 if huge else 0.6)
            ccx = cx + np.cos(ang) * rad * rx
            ccy = cy + np.sin(ang) * rad * ry
            crr = rng.uniform(0.22, 0.4, n_cl) if huge else rng.uniform(0.35, 0.55, n_cl)
        else:
            ccx, ccy, crr = np.array([cx]), np.array([cy]), np.array([1.0])
        ddx = (xs[None] - ccx[:, None, None]) / (crr[:, None, None] * rx)
        ddy = (ys[None] - ccy[:, None, None]) / (crr[:, None, None] * ry)
        rr = np.sqrt(ddx**2 + ddy**2)
        best = rr.argmin(0)
        rmin = np.take_along_axis(rr, best[None], 0)[0]
        clump = rmin <= 1.0 + 0.3 * rough
        inner = np.sqrt((dx / rx) ** 2 + ((ys - cy) / ry) ** 2) < 0.75  # the shaded inside of the crown
        crown = clump | inner
        bx = np.take_along_axis(ddx, best[None], 0)[0]
        by = np.take_along_axis(ddy, best[None], 0)[0]
        gx = np.clip(dx / rx, -1, 1)
        nx = np.clip(0.6 * bx + 0.5 * gx, -1, 1)
        up = np.clip(-by, -1, 1) * 0.45 + 0.15 - 0.3 * np.clip((ys - cy) / ry, 0, 1)
        occl = np.where(clump, 0.65 + 0.35 * np.clip(1 - rmin, 0, 1) ** 0.5, 0.45)
        trunk_top = (yb - cy) / h
        tint = np.array([1.3, 1.32, 1.0], np.float32)
    trunk = (np.abs(dx) <= trunk_w / 2) & (t >= -0.02) & (t < trunk_top + 0.05)
    mask = crown | trunk
    if not mask.any():
        return
    if detail is None:
        c = frame.tex_screen(tex, xs[mask] + cx * 3.1, ys[mask] + cx, scale)
        d = c / (tex.mean + 1e-3)
        d = 1.0 + (d - 1.0) * 0.5
    else:
        d = np.clip(detail[mask], 0.3, 2.0)
        d = 1.0 + (d - 1.0) * 0.7
    base = frame.tree_colour() * tint * hsv_jitter((1.0, 1.0, 1.0), rng, 0.05, 0.1, 0.12)
    c = d * base
    up_m = up if np.isscalar(up) else up[mask]
    light = frame.light(nx[mask], up_m) * (occl if np.isscalar(occl) else occl[mask])[:, None]
    c = c * light
    tr = trunk[mask] & ~crown[mask]
    if tr.any():
        shade = 0.5 + 0.5 * np.clip(dx[mask][tr] / (trunk_w / 2) * frame.sun_x, 0, 1)
        c[tr] = np.array([0.24, 0.2, 0.16], np.float32) * shade[:, None] * (0.4 + 0.6 * frame.sun_col)
    c = frame.haze(c, z)
    frame.img[y0:y1, x0:x1][mask] = c
    frame.lab[y0:y1, x0:x1][mask] = TREE
    frame.dist[y0:y1, x0:x1][mask] = z


def conifer_branches(frame: Frame, dx, ys, yb: float, h: float, w: float, trunk_top: float, rough):
    """A large conifer as whorls of drooping branch sprays around a dense core: returns the crown mask and the
    shading inputs (horizontal normal, upward factor, occlusion) per pixel of the box."""
    rng = frame.rng
    n_whorls = int(rng.integers(11, 19))
    tw = np.linspace(trunk_top + 0.02, 0.96, n_whorls) + rng.uniform(-0.2, 0.2, n_whorls) / n_whorls
    spacing = h * (0.96 - trunk_top) / n_whorls
    sides, t_b, lens, thick, droop, shift = [], [], [], [], [], []
    for tt in tw:
        env = w / 2 * (1 - (tt - trunk_top) / (1 - trunk_top)) ** 0.95 + 0.6
        for side in (-1.0, 1.0, -1.0, 1.0, 0.0):
            sides.append(side)
            t_b.append(tt + rng.uniform(-0.3, 0.3) / n_whorls)
            lens.append(env * (rng.uniform(0.75, 1.08) if side else rng.uniform(0.35, 0.6)))
            thick.append(spacing * rng.uniform(0.45, 0.85))
            droop.append(rng.uniform(0.15, 0.55))
            shift.append(rng.uniform(-0.4, 0.4) * env if side == 0 else 0.0)
    f32 = np.float32
    sides, t_b, lens = np.array(sides, f32), np.array(t_b, f32), np.array(lens, f32)
    thick, droop, shift = np.array(thick, f32), np.array(droop, f32), np.array(shift, f32)
    dx = dx.astype(f32)
    ys = ys.astype(f32)
    by = yb - t_b * h  # the row where each branch leaves the trunk
    seen = (by + droop * lens + thick >= ys.min() - 1) & (by - thick <= ys.max() + 1)  # cull off-screen ones
    if not seen.any():
        seen[:] = True
    sides, by, lens, thick, droop, shift = (a[seen] for a in (sides, by, lens, thick, droop, shift))
    # each branch is tested inside its own small window, back to front; the last one drawn shades the pixel
    bh, bw = dx.shape
    top_row = float(ys[0, 0])
    cols = dx[0]
    any_in = np.zeros(dx.shape, bool)
    up = np.full(dx.shape, -0.1, np.float32)
    occl = np.full(dx.shape, 0.45, np.float32)
    for i in range(len(sides)):
        side, L, th = sides[i], lens[i], thick[i]
        if side != 0:
            lo, hi = (0.0, L) if side > 0 else (-L, 0.0)
        else:
            lo, hi = shift[i] - L, shift[i] + L
        c0 = int(np.searchsorted(cols, lo - 1))
        c1 = int(np.searchsorted(cols, hi + 1))
        r0 = max(0, int(by[i] - th - top_row) - 1)
        r1 = min(bh, int(by[i] + droop[i] * L + th - top_row) + 2)
        if c0 >= c1 or r0 >= r1:
            continue
        ddx = dx[r0:r1, c0:c1]
        yy = ys[r0:r1, c0:c1]
        along = ddx * side if side != 0 else np.abs(ddx - shift[i])
        frac = along / L
        centre = by[i] + droop[i] * np.abs(along)
        half = th * (1 - 0.55 * np.clip(frac, 0, 1)) * np.sqrt(np.clip(1 - frac**6, 0, 1))
        half = half * (1 + 0.35 * rough[r0:r1, c0:c1])
        inside = (np.abs(yy - centre) <= half) & (frac <= 1) & ((along >= -0.5) | (side == 0))
        if not inside.any():
            continue
        v = np.clip((centre - yy) / np.maximum(half, 0.5), -1, 1)  # +1 at the top surface of the spray
        any_in[r0:r1, c0:c1] |= inside
        up[r0:r1, c0:c1][inside] = (0.3 + 0.45 * v)[inside]
        occl[r0:r1, c0:c1][inside] = (0.6 + 0.4 * np.clip(frac, 0, 1))[inside]
    core_w = (w / 2) * 0.22 * (1 - np.clip(((yb - ys) / h - trunk_top) / (1 - trunk_top), 0, 1))
    core = (np.abs(dx) <= core_w) & ((yb - ys) / h >= trunk_top) & ((yb - ys) / h <= 1)
    crown = any_in | core
    nx = np.clip(dx / (w / 2), -1, 1)
    return crown, nx, up, occl


def draw_rock(frame: Frame, yb: float, cx: float, z: float, tex: Texture) -> None:
    """A boulder: a lumpy half-ellipse sitting on the ground, bump-shaded from its texture, with a contact
    shadow on the ground beneath it."""
    rng = frame.rng
    H, W = frame.H, frame.W
    size_m = rng.uniform(0.3, 1.0) * rng.uniform(1.0, 2.6)
    h = frame.f * size_m * rng.uniform(0.45, 0.85) / z
    w = frame.f * size_m / z
    if h < 1.0:
        return
    x0 = int(max(0, math.floor(cx - w * 0.7 - 1)))
    x1 = int(min(W, math.ceil(cx + w * 0.7 + 1)))
    y0 = int(max(0, math.floor(yb - h * 1.3 - 1)))
    y1 = int(min(H, math.ceil(yb + h * 0.3 + 1)))
    if x0 >= x1 or y0 >= y1:
        return
    xs = frame.xs[y0:y1, x0:x1]
    ys = frame.ys[y0:y1, x0:x1]
    dx = (xs - cx) / (w / 2)
    dy = (yb - ys) / h
    ang = np.arctan2(dy, dx)
    ph = rng.uniform(0, 6.3, 4)
    wob = (
        1
        + 0.13 * np.sin(3 * ang + ph[0])
        + 0.08 * np.sin(5 * ang + ph[1])
        + 0.05 * np.sin(9 * ang + ph[2])
        + 0.03 * np.sin(17 * ang + ph[3])
    )
    r = np.sqrt(dx**2 + dy**2)
    base = -0.1 - 0.04 * np.sin(dx * 7 + ph[0])
    mask = (r <= wob) & (dy >= base)
    if not mask.any():
        return
    # contact shadow on the ground just below and around the base
    shadow = (~mask) & (dy < 0.05) & (dy > -0.35) & (np.abs(dx) < 1.15)
    ground = shadow & np.isin(frame.lab[y0:y1, x0:x1], (GRASS, SAND, DIRT, ROCK, SNOW))
    if ground.any():
        k = np.clip(1.0 - (np.abs(dx[ground]) / 1.15) ** 2, 0, 1) * np.clip(1.0 + dy[ground] / 0.35, 0, 1)
        frame.img[y0:y1, x0:x1][ground] *= (1.0 - 0.45 * k)[:, None]
    scale = max(0.5, z / frame.f * 256 / 1.5)
    c = frame.tex_screen(tex, xs.ravel() + cx * 7, ys.ravel(), scale).reshape(xs.shape + (3,))
    lum = c.mean(2)
    gy, gx = np.gradient(lum)
    bump = 2.5 / (tex.mean.mean() + 1e-3)
    c = c[mask]
    tgt = hsv_jitter((0.42, 0.40, 0.37), rng, 0.05, 0.2, 0.2)
    c = c / (tex.mean + 1e-3) * (0.35 * tex.mean + 0.65 * tgt)
    nx = np.clip(dx[mask] / np.maximum(wob[mask], 0.5) - gx[mask] * bump, -1.5, 1.5)
    up = np.clip(dy[mask] / np.maximum(wob[mask], 0.5), 0, 1) + gy[mask] * bump
    light = frame.light(nx, np.clip(up, -0.5, 1.2) * 0.8)
    c = c * light * (0.55 + 0.45 * np.clip(dy[mask] * 2 + 0.3, 0, 1))[:, None]
    c = frame.haze(c, z)
    frame.img[y0:y1, x0:x1][mask] = c
    frame.lab[y0:y1, x0:x1][mask] = ROCK
    frame.dist[y0:y1, x0:x1][mask] = z


def draw_objects(frame: Frame, groups: list, foliage: Texture, rock: Texture) -> None:
    for kind, z, yb, cx, conifer, hm in groups:
        if kind == "rock":
            for i in range(len(z)):
                draw_rock(frame, float(yb[i]), float(cx[i]), float(z[i]), rock)
            continue
        small = frame.f * hm / z < 7.0
        if small.any():
            draw_tree_batch(frame, z[small], yb[small], cx[small], conifer[small], hm[small], foliage)
        for i in np.flatnonzero(~small)[np.argsort(-z[~small])]:
            draw_tree(frame, float(yb[i]), float(cx[i]), float(z[i]), bool(conifer[i]), float(hm[i]), foliage)
