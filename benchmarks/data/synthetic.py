"""The built-in data set: textured objects on cluttered backgrounds, with exact ground truth.

Every image is drawn from its own generator seeded by ``(seed, split, index)``, so image i is
the same whatever the set's size, and nothing is downloaded: backgrounds are crops of the
images bundled inside scikit-image, mixed with smooth noise.

A class is a shape with its own texture (``disk`` with ``stripes``, ``square`` with
``checker``, ...); colours and rotations are random, so neither tells the class. Distractors
are objects of other shapes and textures (plain, speckled, gradient, blotched): the class is in
the class object alone, so a model that classifies well has to look at it.
Class objects are drawn last, so their masks are exact and fully visible unless a second
class object overlaps them (then the hidden part is removed from the first mask).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import asdict, dataclass

import numpy as np

from ..data.dataset import Dataset, boxes_from_masks

CLASS_SHAPES = ("disk", "square", "triangle", "cross", "star", "hexagon", "ring", "diamond")
CLASS_TEXTURES = ("stripes", "checker", "dots", "rings", "waves", "zigzag", "grid", "hatch")
DISTRACTOR_SHAPES = ("ellipse", "bar", "crescent", "ell")
DISTRACTOR_TEXTURES = ("solid", "speckle", "gradient", "blotch")
SPLITS = {"train": 0, "val": 1, "test": 2}
# scikit-image ships these inside the wheel (no pooch download needed).
BACKGROUND_IMAGES = ("brick", "grass", "gravel", "camera", "coins", "moon", "text", "page",
                     "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
                     "hubble_deep_field")
GENERATOR_VERSION = 1  # bump when the images change, so cached models are retrained


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the built-in data set (all sizes in pixels or fractions of the side)."""

    image_size: int = 64
    num_classes: int = 5
    n_images: int = 32
    pair_fraction: float = 0.25        # share of images holding two classes
    max_distractors: int = 2           # 0..max distractor objects per image
    object_scale: tuple = (0.16, 0.25)  # object radius as a fraction of the side
    border_fraction: float = 0.15      # share of objects placed across the image border
    min_visible: float = 0.45          # a border object keeps at least this share visible
    noise_std: float = 0.03
    background: str = "mixed"          # mixed | images | noise | flat
    seed: int = 0
    split: str = "test"

    def __post_init__(self):
        if not 1 <= self.num_classes <= len(CLASS_SHAPES):
            raise ValueError(f"num_classes must be in 1..{len(CLASS_SHAPES)}, got {self.num_classes}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {sorted(SPLITS)}, got {self.split!r}")

    def fingerprint(self) -> dict:
        d = asdict(self)
        d["object_scale"] = list(self.object_scale)
        d["version"] = GENERATOR_VERSION
        return d


def class_names(num_classes: int) -> list:
    return [f"{s}_{t}" for s, t in zip(CLASS_SHAPES[:num_classes], CLASS_TEXTURES[:num_classes])]


# ---------------------------------------------------------------- shapes (object frame)
def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean shape in object coordinates (u, v), unit = the object's radius."""
    r = np.hypot(u, v)
    th = np.arctan2(v, u)
    if shape == "disk":
        return r < 0.95
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.72
    if shape == "triangle":
        # equilateral, circumradius 0.95, pointing up (v grows downward in images)
        return (v < 0.475) & (np.sqrt(3) * u - v < 0.95) & (-np.sqrt(3) * u - v < 0.95)
    if shape == "cross":
        return ((np.abs(u) < 0.3) & (np.abs(v) < 0.95)) | ((np.abs(v) < 0.3) & (np.abs(u) < 0.95))
    if shape == "star":
        return r < 0.95 * (0.55 + 0.45 * np.cos(5 * th) ** 2 * (np.cos(5 * th) > 0)) + 0.0
    if shape == "hexagon":
        sector = np.mod(th, np.pi / 3) - np.pi / 6
        return r * np.cos(sector) < 0.85
    if shape == "ring":
        return (r < 0.95) & (r > 0.5)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) < 0.95
    if shape == "ellipse":
        return (u / 0.95) ** 2 + (v / 0.4) ** 2 < 1
    if shape == "bar":
        return (np.abs(u) < 0.95) & (np.abs(v) < 0.22)
    if shape == "crescent":
        return (r < 0.9) & (np.hypot(u - 0.45, v) > 0.7)
    if shape == "ell":
        return ((np.abs(u + 0.55) < 0.25) & (np.abs(v) < 0.9)) | ((np.abs(v - 0.65) < 0.25) & (np.abs(u) < 0.8))
    raise ValueError(f"unknown shape {shape!r}")


def _texture(kind: str, u: np.ndarray, v: np.ndarray, phase: float) -> np.ndarray:
    """Pattern in [0, 1] in object coordinates; about three periods across the object."""
    p = 0.42
    su = np.sin(2 * np.pi * (u + phase) / p)
    sv = np.sin(2 * np.pi * (v + phase) / p)
    if kind == "stripes":
        t = su > 0
    elif kind == "checker":
        t = su * sv > 0
    elif kind == "dots":
        t = (np.mod(u + phase, p) - p / 2) ** 2 + (np.mod(v + phase, p) - p / 2) ** 2 < (0.3 * p) ** 2
    elif kind == "rings":
        t = np.sin(2 * np.pi * np.hypot(u, v) / p + phase) > 0
    elif kind == "waves":
        t = np.sin(2 * np.pi * (u + 0.25 * np.sin(2 * np.pi * v / (1.5 * p)) + phase) / p) > 0
    elif kind == "zigzag":
        t = np.sin(2 * np.pi * (v + np.abs(np.mod(u + phase, p) - p / 2)) / p) > 0
    elif kind == "grid":
        t = (np.abs(np.mod(u + phase, p) - p / 2) < 0.12 * p) | (np.abs(np.mod(v + phase, p) - p / 2) < 0.12 * p)
    elif kind == "solid":
        t = np.zeros_like(u)
    elif kind == "speckle":
        t = np.sin(37.0 * u * (1 + phase)) * np.sin(41.0 * v + 5 * phase) > 0.3
    elif kind == "gradient":
        return np.clip(0.5 + 0.5 * u, 0, 1).astype(np.float32)
    elif kind == "blotch":
        t = np.sin(3 * u + 6 * phase) + np.sin(2.5 * v) > 0.4
    elif kind == "hatch":
        t = np.sin(2 * np.pi * (u + v + phase) / (1.2 * p)) * np.sin(2 * np.pi * (u - v) / (1.2 * p)) > 0
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return t.astype(np.float32)


def _hsv_color(rng, s_range=(0.55, 1.0), v_range=(0.55, 1.0)) -> np.ndarray:
    import colorsys
    return np.array(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*s_range), rng.uniform(*v_range)),
                    np.float32)


# ---------------------------------------------------------------- backgrounds
@functools.lru_cache(maxsize=1)
def _background_pool() -> tuple:
    """The bundled scikit-image pictures as float RGB arrays, at most 256 px on a side."""
    import skimage.data as skd
    from skimage.transform import resize

    pool = []
    for name in BACKGROUND_IMAGES:
        try:
            img = getattr(skd, name)()
        except Exception:  # an image missing from this scikit-image build: skip it
            continue
        img = np.asarray(img, np.float32)
        if img.max() > 1:
            img = img / 255.0
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        img = img[..., :3]
        scale = 256 / min(img.shape[:2])
        if scale < 1:
            img = resize(img, (round(img.shape[0] * scale), round(img.shape[1] * scale)),
                         order=1, anti_aliasing=True).astype(np.float32)
        pool.append(img)
    return tuple(pool)


def _interp_matrix(n: int, cells: int) -> np.ndarray:
    """(n, cells) linear-interpolation weights from a coarse grid to n pixels."""
    pos = np.linspace(0, cells - 1, n)
    lo = np.floor(pos).astype(int).clip(0, cells - 2)
    frac = (pos - lo).astype(np.float32)
    m = np.zeros((n, cells), np.float32)
    m[np.arange(n), lo] = 1 - frac
    m[np.arange(n), lo + 1] = frac
    return m


def _smooth_noise(rng, size: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], (size, size, 3): a coarse random grid, interpolated."""
    cells = int(rng.integers(3, 9))
    coarse = rng.uniform(size=(3, cells, cells)).astype(np.float32)
    m = _interp_matrix(size, cells)
    return np.transpose(m @ coarse @ m.T, (1, 2, 0)).astype(np.float32)  # = einsum yi,cij,xj->yxc


def _background(rng, spec: SyntheticSpec) -> np.ndarray:
    n = spec.image_size
    if spec.background == "flat":
        return np.full((n, n, 3), 0.5, np.float32)
    noise = _smooth_noise(rng, n)
    pool = _background_pool() if spec.background in ("mixed", "images") else ()
    if not pool:
        return 0.3 + 0.4 * noise
    src = pool[rng.integers(len(pool))]
    side = int(rng.uniform(0.25, 0.8) * min(src.shape[:2]))
    y = rng.integers(0, src.shape[0] - side + 1)
    x = rng.integers(0, src.shape[1] - side + 1)
    idx = (np.arange(n) * side / n).astype(int)  # nearest-neighbour resampling: fast, and
    crop = src[y + idx[:, None], x + idx[None, :]]  # aliasing only adds clutter
    if rng.uniform() < 0.5:
        crop = crop[:, ::-1]
    if rng.uniform() < 0.5:  # tint grey pictures so colour is no cue
        crop = crop.mean(-1, keepdims=True) * _hsv_color(rng, (0.0, 0.6), (0.7, 1.0))
    mix = 0.6 if spec.background == "mixed" else 1.0
    bg = mix * crop + (1 - mix) * noise
    return (0.2 + 0.6 * bg).astype(np.float32)  # keep contrast below the objects'


# ---------------------------------------------------------------- objects
def _place(rng, spec: SyntheticSpec, shape: str, radius: float, avoid: np.ndarray | None,
           border: bool):
    """Sample a pose; return (mask on the image, u, v) with u, v the object coordinates."""
    n = spec.image_size
    pad = int(np.ceil(radius)) + 1
    yy, xx = np.mgrid[-pad:n + pad, -pad:n + pad].astype(np.float32)
    best = None
    for _ in range(25):
        if border:
            side = rng.integers(4)
            along = rng.uniform(radius, n - radius)
            across = rng.uniform(-0.3 * radius, 0.4 * radius)
            cx, cy = [(across, along), (n - across, along), (along, across), (along, n - across)][side]
        else:
            cx, cy = rng.uniform(radius, n - radius, size=2)
        ang = rng.uniform(0, 2 * np.pi)
        du, dv = (xx - cx) / radius, (yy - cy) / radius
        u = np.cos(ang) * du + np.sin(ang) * dv
        v = -np.sin(ang) * du + np.cos(ang) * dv
        full = _shape_mask(shape, u, v)
        mask = full[pad:pad + n, pad:pad + n]
        area = full.sum()
        if area == 0 or mask.sum() < spec.min_visible * area:
            continue
        overlap = 0.0 if avoid is None else (mask & avoid).sum() / max(mask.sum(), 1)
        cand = (overlap, mask, u[pad:pad + n, pad:pad + n], v[pad:pad + n, pad:pad + n])
        if best is None or overlap < best[0]:
            best = cand
        if overlap <= 0.02:
            break
    if best is None:  # could not keep enough visible: fall back to a central pose
        return _place(rng, spec, shape, radius, None, False)
    return best[1], best[2], best[3]


def _draw(img: np.ndarray, rng, mask, u, v, texture: str) -> None:
    t = _texture(texture, u, v, rng.uniform(0, 1))[..., None]
    c1 = _hsv_color(rng)
    c2 = c1 * rng.uniform(0.15, 0.45)  # dark partner: strong texture contrast
    if rng.uniform() < 0.5:
        c1, c2 = c2, c1
    img[mask] = (t * c1 + (1 - t) * c2)[mask]


def render(spec: SyntheticSpec, index: int, label: int, second: int = -1) -> dict:
    """Draw image ``index``: its class object ``label`` (and ``second`` if >= 0)."""
    rng = np.random.default_rng([spec.seed, SPLITS[spec.split], index, 7])
    n = spec.image_size
    img = _background(rng, spec)
    distractors = np.zeros((n, n), bool)
    lo, hi = spec.object_scale
    for _ in range(rng.integers(0, spec.max_distractors + 1)):
        shape = DISTRACTOR_SHAPES[rng.integers(len(DISTRACTOR_SHAPES))]
        texture = DISTRACTOR_TEXTURES[rng.integers(len(DISTRACTOR_TEXTURES))]
        m, u, v = _place(rng, spec, shape, rng.uniform(lo, hi) * n, None, False)
        _draw(img, rng, m, u, v, texture)
        distractors |= m
    classes = [label] + ([second] if second >= 0 else [])
    masks = []
    for c in classes:
        border = rng.uniform() < spec.border_fraction
        avoid = masks[0] if masks else None
        m, u, v = _place(rng, spec, CLASS_SHAPES[c], rng.uniform(lo, hi) * n, avoid, border)
        _draw(img, rng, m, u, v, CLASS_TEXTURES[c])
        masks = [mm & ~m for mm in masks] + [m]  # later objects hide earlier ones
        distractors &= ~m
    img = img + rng.normal(0, spec.noise_std, img.shape).astype(np.float32)
    return {"image": np.clip(img, 0, 1).astype(np.float32), "mask": masks[0],
            "second_mask": masks[1] if len(masks) > 1 else np.zeros((n, n), bool),
            "distractors": distractors}


def _labels(spec: SyntheticSpec) -> tuple:
    """Classes per image, balanced and seeded: (labels, second_labels)."""
    rng = np.random.default_rng([spec.seed, SPLITS[spec.split], 1 << 20])
    n = spec.n_images
    labels = np.resize(np.arange(spec.num_classes), n)
    labels = labels[rng.permutation(n)]
    second = np.full(n, -1, np.int64)
    n_pairs = int(round(spec.pair_fraction * n)) if spec.num_classes > 1 else 0
    if n_pairs:
        idx = np.arange(n - n_pairs, n)  # the pairs come last: a prefix stays single-class
        offs = rng.integers(1, spec.num_classes, size=n_pairs)
        second[idx] = (labels[idx] + offs) % spec.num_classes
    return labels.astype(np.int64), second


# Above this many pixels (about 400 images at 224 px) the images are drawn in parallel.
PARALLEL_PIXELS = 20_000_000


def _render_range(spec: SyntheticSpec, start: int, labels, second) -> list:
    return [render(spec, start + j, int(c), int(d)) for j, (c, d) in enumerate(zip(labels, second))]


def generate(spec: SyntheticSpec | None = None, progress: bool = False, workers: int | None = None,
             **overrides) -> Dataset:
    """Generate the data set described by ``spec`` (fields may be overridden by keyword).

    ``workers``: processes drawing images (the images do not depend on it); None: every CPU
    core for large sets (``PARALLEL_PIXELS``), else one.
    """
    spec = spec or SyntheticSpec()
    if overrides:
        spec = dataclasses.replace(spec, **overrides)
    labels, second = _labels(spec)
    n, s = spec.n_images, spec.image_size
    if workers is None:
        workers = (os.cpu_count() or 1) if n * s * s >= PARALLEL_PIXELS else 1
    images = np.empty((n, s, s, 3), np.float32)
    masks = np.empty((n, s, s), bool)
    second_masks = np.empty((n, s, s), bool)
    distractors = np.empty((n, s, s), bool)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=n, desc=f"data {spec.split}", leave=False)
    for start, drawn in _drawn(spec, labels, second, max(1, int(workers))):
        for i, r in enumerate(drawn, start):
            images[i], masks[i] = r["image"], r["mask"]
            second_masks[i], distractors[i] = r["second_mask"], r["distractors"]
        if bar is not None:
            bar.update(len(drawn))
    if bar is not None:
        bar.close()
    return Dataset(images=images, labels=labels, masks=masks, boxes=boxes_from_masks(masks),
                   class_names=class_names(spec.num_classes), second_labels=second,
                   second_masks=second_masks, distractor_masks=distractors,
                   name=f"synthetic{s}", meta={"spec": spec.fingerprint()})


def _drawn(spec: SyntheticSpec, labels, second, workers: int):
    """(start, rendered images) pieces, in any order; in ``workers`` processes when > 1."""
    n = len(labels)
    if workers == 1:
        step = 16
        for start in range(0, n, step):
            yield start, _render_range(spec, start, labels[start:start + step], second[start:start + step])
        return
    import concurrent.futures
    import multiprocessing
    step = max(1, min(64, -(-n // (4 * workers))))
    # spawn, not fork: the parent may hold a Keras backend's threads
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        jobs = {pool.submit(_render_range, spec, start, labels[start:start + step],
                            second[start:start + step]): start for start in range(0, n, step)}
        for job in concurrent.futures.as_completed(jobs):
            yield jobs[job], job.result()
