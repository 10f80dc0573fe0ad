"""Grid pointing game data (Rao, Böhle & Schiele, "Towards Better Understanding Attribution
Methods", CVPR 2022): 2×2 grids of photos the model classifies confidently, each of another
class. Explaining one cell's class, a method should put its evidence in that cell: the grid
gives exact ground truth without any annotation.

The photos come from a pool: the photos shipped with scikit-image and matplotlib (nothing is
downloaded), or a user's folder (``root``). Without human labels, a photo qualifies when the
model's top-1 probability on it (resized to the full image size) is at least
``min_probability``; its class is that top-1. Per class only the most confident photo is kept,
so the four cells of a grid always hold four different classes. Each grid is then four
qualifying photos, each resized to half the side, in an order drawn from ``seed``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfcam.image_files import read_image, to_rgb

from ..data.dataset import Dataset, boxes_from_masks

GRID = 2   # cells per side (Rao et al.'s 2×2)


def _skimage(name: str, index: int | None = None):
    def load():
        import skimage.data
        image = getattr(skimage.data, name)()
        return image if index is None else image[index]
    return load


def _matplotlib(filename: str):
    def load():
        import matplotlib.image
        from matplotlib import cbook
        return matplotlib.image.imread(cbook.get_sample_data(filename))
    return load


# Natural photos shipped with the libraries (scikit-image's that need no download; the
# microscopy and astronomy ones are kept: the confidence rule decides, not this list).
BUILTIN_PHOTOS = {
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "camera": _skimage("camera"),
    "astronaut": _skimage("astronaut"),
    "rocket": _skimage("rocket"),
    "motorcycle": _skimage("stereo_motorcycle", 0),
    "immunohistochemistry": _skimage("immunohistochemistry"),
    "hubble_deep_field": _skimage("hubble_deep_field"),
    "retina": _skimage("retina"),
    "coins": _skimage("coins"),
    "clock": _skimage("clock"),
    "moon": _skimage("moon"),
    "page": _skimage("page"),
    "colorwheel": _skimage("colorwheel"),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}


def resize(image, side: int) -> np.ndarray:
    """Squash to side × side (the whole photo, no crop: the check of the converted
    EfficientNet-Lite0 used this)."""
    from skimage.transform import resize as sk_resize
    return sk_resize(image, (side, side), order=1, anti_aliasing=True).astype(np.float32)


def load_pool(root=None, limit: int | None = None) -> dict:
    """name -> RGB photo in [0, 1]: ``root``'s images (file stems as names), else the
    built-in photos."""
    if root is None:
        photos = {name: to_rgb(load()) for name, load in BUILTIN_PHOTOS.items()}
    else:
        from ..data.folder import IMAGE_SUFFIXES
        folder = Path(str(root)).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"dataset.root={folder} is not a folder")
        folder = folder / "images" if (folder / "images").is_dir() else folder
        files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise ValueError(f"no image ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
        photos = {p.stem: read_image(p) for p in files}
    if limit:
        photos = dict(list(photos.items())[:int(limit)])
    return photos


@dataclass(frozen=True)
class Photo:
    name: str
    label: int          # the model's top-1 class
    probability: float  # its probability


def select(names, probs, min_probability: float) -> tuple:
    """(kept, every photo): photos whose top-1 probability is ≥ ``min_probability``, the most
    confident one per class, in the pool's order."""
    probs = np.asarray(probs, np.float64)
    every = [Photo(str(n), int(p.argmax()), float(p.max())) for n, p in zip(names, probs)]
    best: dict = {}
    for photo in every:
        if photo.probability >= min_probability and (
                photo.label not in best or photo.probability > best[photo.label].probability):
            best[photo.label] = photo
    kept = [p for p in every if best.get(p.label) is p]
    return kept, every


def cell_masks(image_size: int, grid: int = GRID) -> np.ndarray:
    """(grid², S, S) bool: cell k is row k // grid, column k % grid."""
    edges = np.linspace(0, image_size, grid + 1).round().astype(int)
    masks = np.zeros((grid * grid, image_size, image_size), bool)
    for k in range(grid * grid):
        r, c = divmod(k, grid)
        masks[k, edges[r]:edges[r + 1], edges[c]:edges[c + 1]] = True
    return masks


def arrangements(n_photos: int, n_grids: int, seed: int, grid: int = GRID) -> np.ndarray:
    """(n_grids, grid²) photo indices: distinct photos per grid, order drawn from ``seed``;
    the same arrangement is not repeated while unused ones are easy to find."""
    cells = grid * grid
    if n_photos < cells:
        raise ValueError(f"a {grid}×{grid} grid needs {cells} photos of different classes; {n_photos} qualify")
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    while len(out) < n_grids:
        for _ in range(100):
            pick = tuple(int(i) for i in rng.permutation(n_photos)[:cells])
            if pick not in seen:
                break
        seen.add(pick)
        out.append(pick)
    return np.asarray(out, np.int64).reshape(n_grids, cells)


@dataclass
class GridDataset(Dataset):
    """A :class:`Dataset` of grids; ``labels``/``masks`` are cell 0's, ``second_labels`` /
    ``second_masks`` cell 1's, so the other tasks see an image with two known classes.

    cell_labels: (N, grid²) int, each cell's class; cell_masks: (grid², H, W) bool, the
    same for every grid; cell_photos: (N, grid²) str, each cell's photo."""
    cell_labels: np.ndarray = None
    cell_masks: np.ndarray = None
    cell_photos: np.ndarray = None

    def subset(self, index) -> GridDataset:
        index = np.asarray(index)
        base = super().subset(index)
        return GridDataset(**{**base.__dict__, "cell_labels": self.cell_labels[index],
                              "cell_masks": self.cell_masks, "cell_photos": self.cell_photos[index]})


def make_grids(photos: dict, kept: list, image_size: int, n_grids: int, seed: int,
               num_classes: int, name: str = "grid", meta: dict | None = None) -> GridDataset:
    """The grids of the ``kept`` photos (:func:`select`) as a :class:`GridDataset`."""
    half = image_size // GRID
    if half * GRID != image_size:
        raise ValueError(f"image_size {image_size} is not divisible by {GRID}")
    cells = [resize(photos[p.name], half) for p in kept]
    order = arrangements(len(kept), n_grids, seed)
    images = np.empty((n_grids, image_size, image_size, 3), np.float32)
    for g, pick in enumerate(order):
        for k, i in enumerate(pick):
            r, c = divmod(k, GRID)
            images[g, r * half:(r + 1) * half, c * half:(c + 1) * half] = cells[i]
    masks = cell_masks(image_size)
    labels = np.asarray([[kept[i].label for i in pick] for pick in order], np.int64)
    names = np.asarray([[kept[i].name for i in pick] for pick in order])
    n = n_grids
    return GridDataset(
        images=images, labels=labels[:, 0], masks=np.broadcast_to(masks[0], (n, *masks.shape[1:])).copy(),
        boxes=boxes_from_masks(np.broadcast_to(masks[0], (n, *masks.shape[1:]))),
        class_names=class_names(num_classes),
        second_labels=labels[:, 1], second_masks=np.broadcast_to(masks[1], (n, *masks.shape[1:])).copy(),
        ids=np.asarray(["+".join(row) for row in names]), name=name, meta=dict(meta or {}),
        cell_labels=labels, cell_masks=masks, cell_photos=names)


def class_names(num_classes: int) -> list:
    """ImageNet's names for an ImageNet model's 1,000 classes (images.csv: "tripod", not
    "class_872"), else numbered."""
    from tfcam import imagenet_classes
    names = imagenet_classes()
    return list(names) if num_classes == len(names) else [f"class_{i}" for i in range(num_classes)]


def build(classify: Callable, root=None, image_size: int = 224, n_grids: int = 16,
          min_probability: float = 0.4, seed: int = 0, limit: int | None = None,
          model_name: str = "", name: str = "grid") -> GridDataset:
    """Pool -> confident photos -> grids. ``classify(images (N, S, S, 3) in [0, 1]) ->
    probabilities (N, classes)``: the model whose classes the cells get."""
    photos = load_pool(root, limit)
    names = list(photos)
    probs = np.asarray(classify(np.stack([resize(photos[n], image_size) for n in names])))
    kept, every = select(names, probs, min_probability)
    meta = {"selection": (f"top-1 probability >= {min_probability} on the photo resized to "
                          f"{image_size}x{image_size}; per class the most confident photo; "
                          f"{GRID}x{GRID} grids of different classes, cells {image_size // GRID} px"),
            "min_probability": float(min_probability), "model": model_name, "seed": int(seed),
            "pool": "builtin" if root is None else str(root),
            "photos": [{"name": p.name, "class": p.label, "probability": round(p.probability, 4),
                        "selected": p in kept} for p in every]}
    if len(kept) < GRID * GRID:
        raise ValueError(
            f"grid data: {len(kept)} photos of different classes reach top-1 probability "
            f">= {min_probability} with {model_name or 'the model'} (need {GRID * GRID}): "
            f"{[(p.name, p.label, round(p.probability, 3)) for p in every]}; lower "
            f"dataset.min_probability or add photos (dataset.root=DIR)")
    return make_grids(photos, kept, image_size, n_grids, seed, probs.shape[1], name, meta)


def classifier(model) -> Callable:
    """``classify`` for :func:`build` from a Keras model."""
    return lambda images: np.asarray(model.predict(images, batch_size=16, verbose=0))


def from_config(dcfg, classify: Callable) -> GridDataset:
    """``kind: grid`` (conf/dataset/grid.yaml); ``classify``: the ImageNet model
    ``dcfg.select_model``'s (benchmarks/app.py: ``imagenet_classifier``)."""
    get = dcfg.get
    model_name = str(get("select_model") or "efficientnet_lite0")
    threshold = get("min_probability")
    return build(classify, root=get("root"), image_size=int(get("image_size") or 224),
                 n_grids=int(get("n_images") or 16), min_probability=0.4 if threshold is None else float(threshold),
                 seed=int(get("seed") or 0), limit=get("limit"), model_name=model_name,
                 name=str(get("name") or "grid"))
