"""Reference maps that need no model: what an explanation has to beat.

``centered_gaussian`` is the "objects tend to be in the middle" prior; ``random`` is noise.
"""
from __future__ import annotations

import numpy as np


def centered_gaussian(n: int, height: int, width: int, sigma: float = 0.25) -> np.ndarray:
    """(n, H, W) copies of a Gaussian centred in the image, sigma = ``sigma`` × the side,
    scaled to [0, 1]."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = (height - 1) / 2, (width - 1) / 2
    s = sigma * max(height, width)
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    g = (g - g.min()) / (g.max() - g.min())
    return np.repeat(g[None], n, axis=0).astype(np.float32)


def random_maps(ids, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Uniform noise in [0, 1], one map per image id, reproducible per id."""
    import zlib
    keys = [int(i) if isinstance(i, (int, np.integer)) else zlib.crc32(str(i).encode()) for i in ids]
    return np.stack([np.random.default_rng([seed, k]).uniform(size=(height, width)) for k in keys]
                    ).astype(np.float32)


class ReferenceExplainer:
    library = "baseline"

    def __init__(self, name: str, options: dict | None = None):
        if name not in ("centered_gaussian", "random"):
            raise ValueError(f"unknown reference map {name!r} (centered_gaussian, random)")
        self.name, self.options = name, dict(options or {})

    @property
    def keyed_by_image_id(self) -> bool:
        """The map is drawn from the image's id, not its pixels (a perturbed copy has none)."""
        return self.name == "random"

    def __call__(self, images, targets, ids=None) -> np.ndarray:
        n, h, w = images.shape[:3]
        if self.name == "centered_gaussian":
            return centered_gaussian(n, h, w, float(self.options.get("sigma", 0.25)))
        ids = np.arange(n) if ids is None else ids
        return random_maps(ids, h, w, int(self.options.get("seed", 0)))
