"""The in-memory data set every runner consumes: images plus exact ground truth."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight boxes of boolean masks.

    masks: (N, H, W) bool. Returns (N, 4) int64 ``(x0, y0, x1, y1)``, half-open pixel
    bounds (``mask[y0:y1, x0:x1]`` holds every True pixel); ``(0, 0, 0, 0)`` for an empty mask.
    """
    masks = np.asarray(masks, bool)
    out = np.zeros((len(masks), 4), np.int64)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(ys):
            out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


@dataclass
class Dataset:
    """Images with ground truth, as numpy arrays.

    images: (N, H, W, 3) float32 in [0, 1].
    labels: (N,) int, class of the primary object (-1 when unknown).
    masks: (N, H, W) bool, visible pixels of the primary object.
    boxes: (N, 4) int, ``(x0, y0, x1, y1)`` half-open box of ``masks``.
    second_labels: (N,) int, class of a second object of another class, -1 if none.
    second_masks: (N, H, W) bool, its visible pixels (all False if none).
    distractor_masks: (N, H, W) bool, visible pixels of objects of no class.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    class_names: list
    second_labels: np.ndarray | None = None
    second_masks: np.ndarray | None = None
    distractor_masks: np.ndarray | None = None
    ids: np.ndarray | None = None
    name: str = "dataset"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        n, h, w = len(self.images), self.images.shape[1], self.images.shape[2]
        if self.second_labels is None:
            self.second_labels = np.full(n, -1, np.int64)
        if self.second_masks is None:
            self.second_masks = np.zeros((n, h, w), bool)
        if self.distractor_masks is None:
            self.distractor_masks = np.zeros((n, h, w), bool)
        if self.ids is None:
            self.ids = np.arange(n)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> tuple:
        return tuple(self.images.shape[1:3])

    @property
    def has_boxes(self) -> bool:
        """Whether any image has an object mask (a folder of plain photos has none)."""
        return bool(self.masks.any())

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index) -> Dataset:
        index = np.asarray(index)
        return Dataset(
            images=self.images[index], labels=self.labels[index], masks=self.masks[index],
            boxes=self.boxes[index], class_names=list(self.class_names),
            second_labels=self.second_labels[index], second_masks=self.second_masks[index],
            distractor_masks=self.distractor_masks[index], ids=self.ids[index],
            name=self.name, meta=dict(self.meta))

    def pair_index(self) -> np.ndarray:
        """Indices of the images holding two classes (for the class-sensitivity test)."""
        return np.flatnonzero(self.second_labels >= 0)

    def single_index(self) -> np.ndarray:
        return np.flatnonzero(self.second_labels < 0)
