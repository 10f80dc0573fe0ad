"""Max-sensitivity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations",
NeurIPS 2019; Captum's `captum.metrics.sensitivity_max`).

    SENS_MAX(Φ, x) = max_{‖δ‖∞ ≤ r} ‖Φ(x + δ) − Φ(x)‖ / ‖Φ(x)‖

estimated by the largest relative change over random δ drawn uniformly from the L∞ ball of
radius r (Frobenius norms, Captum's default and its normalization). How much an explanation
moves when the input barely does; lower is better.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfcam import targets as tfcam_targets

from ._attributions import positive_int
from ._forward import predict
from ._inputs import as_images
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("max_sensitivity", higher_is_better=False)

FIELDS = ("maps", "attributions", "signed", "raw")


def _explainer(model, explain, field: str, options, batch_size: int) -> Callable:
    """``run(images, targets) -> (B, ...) float64``: a tfcam method's ``field``, or the
    user's explain function's output."""
    if callable(explain):
        if options:
            raise ValueError(
                "options are passed to a tfcam method; an explain function takes its own "
                "(bind them with functools.partial)."
            )
        return lambda images, targets: np.asarray(explain(images, targets), dtype=np.float64)
    if not isinstance(explain, str):
        raise ValueError(
            f"explain must be a tfcam method name (e.g. 'saliency') or a function "
            f"explain(images, targets) -> maps; received {type(explain).__name__}."
        )
    if field not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}; received {field!r}.")
    from tfcam.api import explain as tfcam_explain  # tfcam.api imports the methods

    def run(images, targets):
        explanation = tfcam_explain(model, images, method=explain, targets=targets,
                                    batch_size=batch_size, progress=False, **(options or {}))
        value = getattr(explanation, field)
        if value is None:
            raise ValueError(
                f"the '{explanation.method}' explanation has no {field} (it is None); "
                f"choose another field of {FIELDS}."
            )
        return np.asarray(value, dtype=np.float64)

    return run


def _resolved_targets(model, x: np.ndarray, targets, batch_size: int):
    """The classes explained at x, (N,) ints (None: the top-1 class at x), or the callable:
    every perturbed copy is explained for its image's class, not its own top-1."""
    if callable(targets):
        return targets
    n = x.shape[0]
    outputs = np.asarray(predict(model, x, batch_size)).reshape(n, -1)
    indices = tfcam_targets.class_indices(targets, n, outputs.shape[1], model.name)
    top1 = np.argmax(outputs, axis=1)
    return np.where(indices == tfcam_targets.TOP1, top1, indices).astype(np.int64)


def _checked(values: np.ndarray, rows: int, shape) -> np.ndarray:
    """An explanation batch with ``rows`` rows and per-sample ``shape``, all finite."""
    if values.ndim < 2 or values.shape[0] != rows or (shape and values.shape[1:] != shape):
        expected = f"({rows}, {', '.join(map(str, shape))})" if shape else f"({rows}, ...)"
        raise ValueError(
            f"the explanations must have shape {expected}, one per image; received shape "
            f"{values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "the explanations contain NaN or infinite values; max-sensitivity needs finite "
            "explanations at the images and at their perturbed copies."
        )
    return values


def max_sensitivity(
    model, inputs, explain, targets=None, *, radius=0.02, n_perturbations=10, field="maps",
    options=None, seed=0, batch_size=32,
) -> MetricResult:
    """Max-sensitivity of an explanation method (Yeh et al., NeurIPS 2019). Lower is better.

    Per image i: ``max_j ‖Φ(x_i + δ_ij) − Φ(x_i)‖_F / ‖Φ(x_i)‖_F`` over ``n_perturbations``
    δ_ij drawn uniformly from [−radius, radius] per input value (Captum's default
    perturbation); a zero ‖Φ(x_i)‖ divides by 1 (Captum's rule). The images and all their
    perturbed copies are explained in one stream of batches of ``batch_size`` (copies of
    many images share a call), and every copy is explained for the class explained at its
    image (the resolved index is passed, never the copy's own top-1).

    Args:
        model: a Keras model mapping (B, H, W, C) images to (B, classes) outputs.
        inputs: (N, H, W, C) float, as the model takes them.
        explain: a tfcam method id (``"saliency"``, ``"grad_cam"``, ...; run by
            `tfcam.explain` with ``options``), or a function ``explain(images, targets) ->
            array (B, ...)`` called with (B,) class indices (or the callable target).
        targets: None (the top-1 class at each image), a class index, (N,) indices, or a
            callable ``score(outputs) -> (N,)`` passed to the method as it is.
        radius: the L∞ radius r of the perturbations, in the inputs' units (Captum's 0.02).
        n_perturbations: perturbations per image (Captum's 10).
        field: which array of a tfcam `Explanation` is Φ: ``"maps"`` (the [0, 1] maps, the
            default: the explanation as it is shown), ``"attributions"`` (unnormalized
            input-space attributions, Captum's and Yeh et al.'s setting), ``"signed"`` or
            ``"raw"``. Ignored for an explain function.
        options: dict of the tfcam method's options (e.g. ``{"steps": 64}``).
        seed: perturbation j of image i is drawn from ``np.random.default_rng([seed, i,
            j])``: the same seed gives the same value at any batch size.
        batch_size: images (originals and perturbed copies) per explain call.

    Returns:
        MetricResult ``"max_sensitivity"``: values (N,) relative change (0: unchanged);
        ``extras``: ``"sensitivities"`` (N, P) each perturbation's relative change,
        ``"norm"`` (N,) ‖Φ(x_i)‖, ``"targets"`` (N,) the classes explained (None for a
        callable target).
    """
    x = as_images(inputs)
    n = x.shape[0]
    r = float(radius)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(
            f"radius must be a positive number (the L-infinity radius of the perturbations, "
            f"in the inputs' units); received {radius!r}."
        )
    p = positive_int(n_perturbations, "n_perturbations")
    batch_size = positive_int(batch_size, "batch_size")
    run = _explainer(model, explain, field, options, batch_size)
    classes = _resolved_targets(model, x, targets, batch_size)

    # One stream: the N images first, then the N·P perturbed copies (image-major), cut into
    # batches; Φ(x) is complete before the first copy's difference is taken.
    total = n * (1 + p)
    reference: np.ndarray | None = None
    sample_shape: tuple | None = None
    sensitivities = np.empty(n * p)
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        ks = np.arange(start, stop)
        image = np.where(ks < n, ks, (ks - n) // p)
        batch = np.empty((ks.size, *x.shape[1:]), np.float32)
        for row, k in enumerate(ks):  # builds inputs only: one explain call per batch
            i = image[row]
            if k < n:
                batch[row] = x[i]
            else:
                rng = np.random.default_rng([seed, i, (k - n) % p])
                batch[row] = x[i] + rng.uniform(-r, r, x.shape[1:])
        phi = run(batch, classes if callable(classes) else classes[image])
        phi = _checked(phi, ks.size, sample_shape)
        if reference is None:
            sample_shape = phi.shape[1:]
            reference = np.empty((n, int(np.prod(sample_shape))))
        phi = phi.reshape(ks.size, -1)
        first = ks < n
        reference[ks[first]] = phi[first]
        copies = ~first
        if copies.any():
            diff = phi[copies] - reference[image[copies]]
            sensitivities[ks[copies] - n] = np.linalg.norm(diff, axis=1)
    assert reference is not None  # the first batch holds image 0 (total >= 1)
    norms = np.linalg.norm(reference, axis=1)
    sensitivities = sensitivities.reshape(n, p) / np.where(norms > 0, norms, 1.0)[:, None]
    return MetricResult(
        "max_sensitivity", sensitivities.max(axis=1), extras={"sensitivities": sensitivities, "norm": norms,
                "targets": None if callable(classes) else classes},
    )
