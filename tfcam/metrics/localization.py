"""Localization metrics against ground-truth masks or boxes (numpy, scikit-image).

Ground truth is (N, H, W) boolean masks, or boxes ``(x0, y0, x1, y1)`` in pixels
(half-open: columns x0 <= x < x1, rows y0 <= y < y1; see `boxes_to_masks`), as an
(N, 4) array or one (4,) / (M, 4) entry per image (the union of an image's boxes is
its mask). All values are fractions in [0, 1] unless stated; never NaN.
"""

from __future__ import annotations

import numpy as np

from ._ground_truth import as_masks, box_lists, pixel_boxes
from ._inputs import as_maps, as_unit_maps
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("iou", higher_is_better=True)
register_direction("box_accuracy", higher_is_better=True)
register_direction("pointing_game", higher_is_better=True)
register_direction("energy_pointing_game", higher_is_better=True)
register_direction("loc_delta", higher_is_better=True)
register_direction("loc_delta_curve", higher_is_better=True)
register_direction("class_sensitivity", higher_is_better=True)


def threshold_maps(maps, threshold="otsu") -> np.ndarray:
    """Binarize (N, H, W) maps; returns (N, H, W) bool.

    threshold:
        - a number t in [0, 1]: pixels with ``map >= t · max(map)`` (fraction of the max);
        - ``"mean_std"``: pixels with ``map >= mean + std`` of that map (empty when
          mean + std exceeds the max, e.g. when most pixels share the maximum);
        - ``"otsu"``: pixels with ``map > otsu(map)`` (skimage.filters.threshold_otsu;
          strictly above, as scikit-image defines the foreground).

    Degenerate maps, the same under every rule: a map whose maximum is <= 0 (e.g. all
    zero) selects no pixel; a constant positive map selects every pixel (all pixels
    tie for the maximum).
    """
    m = as_maps(maps)
    n = m.shape[0]
    mx = m.max(axis=(1, 2), keepdims=True) if m.size else np.zeros((n, 1, 1))
    mn = m.min(axis=(1, 2), keepdims=True) if m.size else np.zeros((n, 1, 1))
    positive = mx > 0
    constant = mx == mn
    if isinstance(threshold, str):
        if threshold in ("mean_std", "mean+std"):
            cut = m.mean(axis=(1, 2), keepdims=True) + m.std(axis=(1, 2), keepdims=True)
            out = m >= cut
        elif threshold == "otsu":
            from skimage.filters import threshold_otsu

            out = np.zeros(m.shape, dtype=bool)
            for i in np.flatnonzero(~constant.reshape(-1)):
                out[i] = m[i] > threshold_otsu(m[i])
        else:
            raise ValueError(
                f'threshold must be a number in [0, 1], "mean_std" or "otsu"; received {threshold!r}.'
            )
    else:
        t = float(threshold)
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"a numeric threshold is a fraction of the max in [0, 1]; received {threshold}.")
        out = m >= t * mx
    out = np.where(constant, True, out)  # constant maps: all or nothing, decided below
    return out & positive


def mask_iou(a, b) -> np.ndarray:
    """(N,) intersection over union of two (N, H, W) boolean mask sets; 0 where both
    are empty. Symmetric."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"masks must both have shape (N, H, W); received {a.shape} and {b.shape}.")
    inter = np.logical_and(a, b).sum(axis=(1, 2))
    union = np.logical_or(a, b).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def iou(maps, masks, threshold="otsu") -> MetricResult:
    """IoU of the thresholded map with the ground truth. Higher is better.

    Args:
        maps: (N, H, W) at the input resolution.
        masks: (N, H, W) bool, or boxes (see the module docstring).
        threshold: see `threshold_maps` (fraction of max, "mean_std" or "otsu").

    Returns:
        values (N,) IoU in [0, 1] (0 for an all-zero map); ``extras["masks"]`` the
        binarized maps.
    """
    m = as_maps(maps)
    gt = as_masks(masks, m.shape[0], m.shape[1:])
    binary = threshold_maps(m, threshold)
    return MetricResult("iou", mask_iou(binary, gt), extras={"masks": binary})


def largest_component_boxes(binary) -> np.ndarray:
    """(N, 4) int box ``(x0, y0, x1, y1)`` (half-open) of the largest 8-connected
    component of each (H, W) boolean mask (skimage.measure.label + regionprops).

    Ties in area go to the component met first in row-major order. A mask with no
    pixel gives the empty box (0, 0, 0, 0).
    """
    from skimage.measure import label, regionprops

    binary = np.asarray(binary, dtype=bool)
    boxes = np.zeros((binary.shape[0], 4), dtype=np.int64)
    for i, b in enumerate(binary):
        if not b.any():
            continue
        regions = regionprops(label(b, connectivity=2))  # ordered by label = row-major
        best = max(regions, key=lambda r: (r.area, -r.label))
        r0, c0, r1, c1 = best.bbox
        boxes[i] = (c0, r0, c1, r1)
    return boxes


def _box_iou(pred: np.ndarray, gts: np.ndarray) -> float:
    """Best IoU of one integer box against several; boxes half-open (x0, y0, x1, y1)."""
    if gts.shape[0] == 0:
        return 0.0
    ix = np.clip(np.minimum(pred[2], gts[:, 2]) - np.maximum(pred[0], gts[:, 0]), 0, None)
    iy = np.clip(np.minimum(pred[3], gts[:, 3]) - np.maximum(pred[1], gts[:, 1]), 0, None)
    inter = ix * iy
    area_p = max(pred[2] - pred[0], 0) * max(pred[3] - pred[1], 0)
    area_g = np.clip(gts[:, 2] - gts[:, 0], 0, None) * np.clip(gts[:, 3] - gts[:, 1], 0, None)
    union = area_p + area_g - inter
    ious = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return float(ious.max())


def box_accuracy(maps, boxes, threshold=0.15, iou_threshold=0.5) -> MetricResult:
    """Box localization accuracy: the box around the largest connected component of
    the thresholded map must reach IoU >= ``iou_threshold`` with a ground-truth box
    (the best one when an image has several). Higher is better.

    Args:
        maps: (N, H, W).
        boxes: (N, 4) or one (4,)/(M, 4) entry per image, ``(x0, y0, x1, y1)`` in
            pixels; compared after snapping to the pixels `boxes_to_masks` draws.
        threshold: see `threshold_maps` (default 15% of the max, as in Grad-CAM).
        iou_threshold: IoU needed for a hit.

    Returns:
        values (N,) 1.0 for a hit, else 0.0 (an all-zero map has no box: a miss);
        ``extras["iou"]`` (N,) best box IoU, ``extras["boxes"]`` (N, 4) predicted boxes.
    """
    m = as_maps(maps)
    n, h, w = m.shape
    gts = box_lists(boxes)
    if len(gts) != n:
        raise ValueError(f"boxes must hold one entry per map ({n}); received {len(gts)}.")
    pred = largest_component_boxes(threshold_maps(m, threshold))
    ious = np.array([_box_iou(pred[i], pixel_boxes(gts[i], h, w)) for i in range(n)])
    return MetricResult(
        "box_accuracy", (ious >= iou_threshold).astype(float), extras={"iou": ious, "boxes": pred},
    )


def pointing_game(maps, masks, tolerance=15.0) -> MetricResult:
    """Pointing game (Zhang et al.): a hit when the map's maximum lies within
    ``tolerance`` pixels (Euclidean, from pixel centre to the nearest ground-truth
    pixel centre, via scipy.ndimage.distance_transform_edt) of the ground truth.
    Higher is better.

    Ties at the maximum (a constant or all-zero map included) are resolved by taking
    the first maximum in row-major order (numpy.argmax of the flattened map). An empty
    ground truth is a miss.

    Returns:
        values (N,) 1.0 hit / 0.0 miss; ``extras["points"]`` (N, 2) (row, col) of the
        maxima, ``extras["distance"]`` (N,) their distance to the ground truth in pixels
        (inf for an empty ground truth).
    """
    from scipy.ndimage import distance_transform_edt

    m = as_maps(maps)
    n, h, w = m.shape
    gt = as_masks(masks, n, (h, w))
    flat = np.argmax(m.reshape(n, h * w), axis=1)
    rows, cols = np.divmod(flat, w)
    dist = np.full(n, np.inf)
    for i in range(n):
        if gt[i].any():
            dist[i] = distance_transform_edt(~gt[i])[rows[i], cols[i]]
    return MetricResult(
        "pointing_game", (dist <= tolerance).astype(float),
        extras={"points": np.stack([rows, cols], axis=1), "distance": dist},
    )


def _energy_inside(m: np.ndarray, gt: np.ndarray) -> np.ndarray:
    total = m.sum(axis=(1, 2))
    inside = (m * gt).sum(axis=(1, 2))
    return np.where(total > 0, inside / np.where(total > 0, total, 1.0), 0.0)


def energy_pointing_game(maps, masks) -> MetricResult:
    """Energy-based pointing game (Score-CAM): ``Σ map·1[gt] / Σ map``. Higher is better.

    Args:
        maps: (N, H, W) in [0, 1].
        masks: (N, H, W) bool or boxes.

    Returns:
        values (N,) in [0, 1]; an all-zero map scores 0. A uniform (constant) map
        scores the ground truth's share of the image (chance).
    """
    m = as_unit_maps(maps)
    gt = as_masks(masks, m.shape[0], m.shape[1:])
    return MetricResult("energy_pointing_game", _energy_inside(m, gt))


def loc_delta(maps, masks, delta=0.5) -> MetricResult:
    """Loc(δ) (Grad-CAM++): ``internal / (ground-truth area + external)``, counting
    pixels with ``map >= δ`` inside (internal) and outside (external) the ground truth.
    Higher is better.

    Args:
        maps: (N, H, W) in [0, 1].
        masks: (N, H, W) bool or boxes.
        delta: threshold on the map, in [0, 1].

    Returns:
        values (N,) in [0, 1]; 1 only when the selected pixels are exactly the ground
        truth; 0 when nothing inside is selected (all-zero map with δ > 0) or the
        denominator is 0 (empty ground truth and no pixel selected).
    """
    m = as_unit_maps(maps)
    gt = as_masks(masks, m.shape[0], m.shape[1:])
    sel = m >= float(delta)
    internal = (sel & gt).sum(axis=(1, 2))
    external = (sel & ~gt).sum(axis=(1, 2))
    denom = gt.sum(axis=(1, 2)) + external
    values = np.where(denom > 0, internal / np.maximum(denom, 1), 0.0)
    return MetricResult("loc_delta", values, extras={"delta": float(delta)})


def loc_delta_curve(maps, masks, deltas) -> MetricResult:
    """Loc(δ) at every δ of ``deltas`` at once (Grad-CAM++ reports it over δ): column j
    equals ``loc_delta(maps, masks, deltas[j]).values``. Higher is better.

    One pass over the pixels whatever the number of δ: each pixel is binned by how many
    of the sorted δ it reaches (``searchsorted``), and the counts of pixels >= δ inside
    and outside the ground truth are the bins' reversed cumulative sums.

    Args:
        maps: (N, H, W) in [0, 1].
        masks: (N, H, W) bool or boxes.
        deltas: (D,) thresholds in [0, 1], in any order (repeats allowed).

    Returns:
        ``curves`` (N, D): Loc at each δ, in the order of ``deltas``; ``values`` (N,) their
        mean over the given δ (one number per image for a table); ``extras["deltas"]`` (D,).
        δ = 0 selects every pixel: Loc(0) is the ground truth's share of the image.
    """
    m = as_unit_maps(maps)
    gt = as_masks(masks, m.shape[0], m.shape[1:])
    d = np.asarray(deltas, dtype=np.float64).reshape(-1)
    if d.size == 0 or not np.all((d >= 0.0) & (d <= 1.0)):
        raise ValueError(f"deltas must be one or more thresholds in [0, 1]; received {deltas!r}.")
    n, k = m.shape[0], d.size
    order = np.argsort(d, kind="stable")
    # bin b of a pixel = number of sorted δ <= its value: it is selected (map >= δ_j) iff j < b
    bins = np.searchsorted(d[order], m.reshape(n, -1), side="right")
    flat = bins + (k + 1) * np.arange(n)[:, None]
    inside = gt.reshape(n, -1)

    def at_least(select):  # (N, D): pixels of ``select`` with map >= δ_j, sorted δ order
        hist = np.bincount(flat[select], minlength=n * (k + 1)).reshape(n, k + 1)
        return np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]

    internal, external = at_least(inside), at_least(~inside)
    denom = inside.sum(axis=1, keepdims=True) + external
    sorted_loc = np.where(denom > 0, internal / np.maximum(denom, 1), 0.0)
    curves = np.empty_like(sorted_loc)
    curves[:, order] = sorted_loc
    return MetricResult("loc_delta_curve", curves.mean(axis=1), curves=curves,
                        extras={"deltas": d})


def class_sensitivity(maps, masks_target, masks_other) -> MetricResult:
    """Class sensitivity on images holding two classes. Higher is better.

    For the map explaining class A on an image holding A and B, the energy share of
    the map inside A's mask minus its share inside B's mask:
    ``Σ map·1[A] / Σ map − Σ map·1[B] / Σ map``.

    Args:
        maps: (N, H, W) in [0, 1], explaining the class of ``masks_target``.
        masks_target: (N, H, W) bool or boxes of the explained class's object.
        masks_other: (N, H, W) bool or boxes of the other class's object.

    Returns:
        values (N,) in [-1, 1]: 1 when all energy lies on the explained object, 0 for
        a class-insensitive map (equal shares), negative when it points at the other
        object; 0 for an all-zero map. ``extras["energy_target"]``,
        ``extras["energy_other"]`` hold the two shares.
    """
    m = as_unit_maps(maps)
    n, h, w = m.shape
    ea = _energy_inside(m, as_masks(masks_target, n, (h, w), "masks_target"))
    eb = _energy_inside(m, as_masks(masks_other, n, (h, w), "masks_other"))
    return MetricResult(
        "class_sensitivity", ea - eb, extras={"energy_target": ea, "energy_other": eb},
    )
