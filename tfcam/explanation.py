"""The result of an explanation: maps, raw maps, targets, scores and helpers to look at them."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Explanation:
    """What `explain` and every method's `attribute` return (all numpy).

    maps: (N, H, W) float32 in [0, 1], at input resolution.
    raw: (N, h, w) float32 at the explained layer's resolution (input resolution for
        input-space methods), before resizing and normalization.
    targets: (N,) int class explained per sample (None for a callable target).
    scores: (N,) float32 score explained (logit of the target class, or the callable's value).
    method: method name; layer: path of the explained layer (None for input-space methods).
    channel_weights: (N, K) per-channel weights for CAM methods, else None.
    attributions: (N, H, W, C) input-space attributions (gradients, IG, ...), else None.
    relevance: (N, h, w, K) LRP relevance at the layer (or input), else None.
    perturbed_inputs: (N,) int, for the perturbation methods (Score-CAM, Ablation-CAM,
        occlusion): how many masked, ablated or occluded copies of each input the model ran.
    """

    maps: np.ndarray
    raw: np.ndarray
    targets: np.ndarray | None
    scores: np.ndarray
    method: str
    layer: str | None = None
    channel_weights: np.ndarray | None = None
    attributions: np.ndarray | None = None
    relevance: np.ndarray | None = None
    perturbed_inputs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.maps)

    def overlay(self, images, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
        """RGB uint8 (N, H, W, 3): the maps in `cmap` blended over `images`.

        Images are shown min-max scaled per image (any value range works); grayscale
        images are repeated to RGB.
        """
        from tfcam.visualize.overlay import overlay

        return overlay(images, self.maps, alpha=alpha, cmap=cmap)
