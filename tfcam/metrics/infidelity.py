"""Infidelity (Yeh et al., "On the (In)fidelity and Sensitivity of Explanations", NeurIPS
2019; Captum's `captum.metrics.infidelity`).

    INFD(Φ, f, x) = E_I[(Iᵀ Φ − (f(x) − f(x − I)))²]

the expected squared error between the attributions Φ applied to a perturbation I and the
change of the explained score that the perturbation makes. 0 means the attributions predict
every perturbation's effect exactly; lower is better.
"""

from __future__ import annotations

import numpy as np

from ._attributions import (
    attribution_array,
    baseline_like,
    positive_int,
    unpack_explanation,
)
from ._inputs import as_images
from ._logits import LogitScorer
from .result import MetricResult, register_direction

# directions (tfcam.metrics.HIGHER_IS_BETTER)
register_direction("infidelity", higher_is_better=False)

PERTURBATIONS = ("gaussian", "noisy_baseline", "square")


def _check_settings(perturbation, noise_std, h, w, max_square) -> int:
    """Validated settings; returns the largest square side (used by "square" only)."""
    if perturbation not in PERTURBATIONS:
        raise ValueError(
            f"perturbation must be one of {PERTURBATIONS}; received {perturbation!r}."
        )
    if perturbation != "square" and not (np.isfinite(noise_std) and noise_std > 0):
        raise ValueError(f"noise_std must be a positive number; received {noise_std!r}.")
    if max_square is None:  # Yeh et al.'s sides 1..10 on 28 × 28 images, scaled
        return max(1, min(h, w, round(min(h, w) * 10 / 28)))
    side = positive_int(max_square, "max_square")
    if side > min(h, w):
        raise ValueError(
            f"max_square must be at most the image's shorter side {min(h, w)}; received {side}."
        )
    return side


def _square_counts(h: int, w: int, max_side: int) -> np.ndarray:
    """(max_side + 1,) cumulative number of squares of side <= s inside an h × w image."""
    sides = np.arange(1, max_side + 1)
    return np.concatenate([[0], np.cumsum((h - sides + 1) * (w - sides + 1))])


def _draw_square(rng, cumulative: np.ndarray, w: int) -> tuple[int, int, int]:
    """(side, row, col) uniform over every square of side 1..max inside the image: the
    distribution of Yeh et al.'s exhaustive enumeration, sampled."""
    u = int(rng.integers(cumulative[-1]))
    side = int(np.searchsorted(cumulative, u, side="right"))
    row, col = divmod(u - int(cumulative[side - 1]), w - side + 1)
    return side, row, col


class _Perturber:
    """Perturbation j of image i: ``(x_i − I, Iᵀ Φ_i)``, reproducible from (seed, i, j)
    whatever the batch size (each draws from ``np.random.default_rng([seed, i, j])``)."""

    def __init__(self, kind, x, phi, base, noise_std, max_side, seed):
        self.kind, self.x, self.base = kind, x, base
        # a (N, H, W) map counts once per channel: Φ broadcast over the channels
        self.phi = phi if phi.ndim == 4 else np.broadcast_to(phi[..., None], x.shape)
        self.noise_std, self.seed = float(noise_std), int(seed)
        h, w = x.shape[1:3]
        self.cumulative = _square_counts(h, w, max_side)

    def __call__(self, i: int, j: int) -> tuple[np.ndarray, float]:
        rng = np.random.default_rng([self.seed, i, j])
        x = self.x[i]
        if self.kind == "square":
            side, r, c = _draw_square(rng, self.cumulative, x.shape[1])
            perturbed = x.copy()
            perturbed[r : r + side, c : c + side] = self.base[i, r : r + side, c : c + side]
            # I is the square's indicator (Captum's multiply_by_inputs perturbation)
            return perturbed, float(self.phi[i, r : r + side, c : c + side].sum())
        noise = self.noise_std * rng.standard_normal(x.shape)
        if self.kind == "gaussian":
            perturbed = (x - noise).astype(np.float32)
        else:  # noisy_baseline: x − I is the baseline plus noise
            perturbed = (self.base[i] + noise).astype(np.float32)
        # I as the model sees it (after float32 rounding), so that a linear model is exact
        change = x.astype(np.float64) - perturbed
        return perturbed, float(np.sum(change * self.phi[i]))


def _errors(dots: np.ndarray, diffs: np.ndarray, normalize: bool):
    """Per-image mean squared error of ``β·IᵀΦ`` against the score change, and β.

    β = E[IᵀΦ·Δf] / E[(IᵀΦ)²] (Captum's ``normalize``) is the scale that minimizes the error,
    so the value no longer depends on the attributions' scale; 1 without normalize.
    """
    if normalize:
        num = np.mean(dots * diffs, axis=1)
        den = np.mean(dots * dots, axis=1)
        beta = num / np.where(den != 0, den, 1.0)  # Captum's safe_div
    else:
        beta = np.ones(dots.shape[0])
    return np.mean((beta[:, None] * dots - diffs) ** 2, axis=1), beta


def infidelity(
    model, inputs, attributions, targets=None, *, perturbation="gaussian",
    n_perturbations=100, noise_std=0.2, max_square=None, baseline=0.0, normalize=False,
    seed=0, apply_softmax=False, batch_size=32,
) -> MetricResult:
    """Infidelity of attributions (Yeh et al., NeurIPS 2019). Lower is better (0: exact).

    ``E_I[(IᵀΦ − (f(x) − f(x − I)))²]`` estimated with ``n_perturbations`` draws of I per
    image, all perturbed images scored in batched, compiled model calls.

    f is the explained class's **logit** by default (``apply_softmax=False``): the value
    tfcam's gradient, Integrated Gradients and LRP attributions explain, read before the
    model's softmax when it ends in one. ``apply_softmax=True`` scores the softmax
    probability instead (then Φ should explain the probability); None detects it as the
    masking metrics do (probability). A callable target ``score(outputs) -> (N,)`` is f.

    Perturbations (``perturbation``):

    - ``"gaussian"``: I ~ N(0, noise_std²) on every input value, ``x − I`` scored. For
      *local* attributions (saliency's gradient): a model linear near x has infidelity 0
      with Φ its gradient.
    - ``"noisy_baseline"``: ``x − I = baseline + ε``, ε ~ N(0, noise_std²) (Yeh et al.'s
      code, without their clipping to [0, 1]): I removes the image towards a noisy baseline.
    - ``"square"``: a square of side 1..``max_square`` (default: Yeh et al.'s 1..10 at 28 px,
      scaled to the image's shorter side), uniform over all squares inside the image, set
      to ``baseline`` in every channel; I is the square's indicator, so IᵀΦ is the sum of Φ
      over the square. For *global* attributions that already multiply by
      ``x − baseline`` (Input×Gradient, Integrated Gradients, LRP).

    Args:
        model: a Keras model mapping (B, H, W, C) images to (B, classes) outputs.
        inputs: (N, H, W, C) float, as the model takes them.
        attributions: (N, H, W, C) attributions Φ (one per input value), (N, H, W) maps
            (broadcast over the channels: one value for every channel of a pixel), or an
            `Explanation` (its unnormalized ``attributions``; its ``targets`` when
            ``targets`` is None). Never the normalized ``maps`` of a method: their scale
            and sign are gone.
        targets: None (the top-1 class), a class index, (N,) indices, or a callable.
        n_perturbations: draws of I per image (Captum's ``n_perturb_samples``).
        noise_std: the Gaussian's standard deviation, in the inputs' units.
        max_square: largest square side for ``"square"``.
        baseline: the removed value for ``"square"`` and ``"noisy_baseline"``: a number, one
            per channel, or an array that broadcasts to the inputs.
        normalize: scale IᵀΦ by the optimal β = E[IᵀΦ·Δf] / E[(IᵀΦ)²] per image before the
            squared error (Captum's ``normalize``; Yeh et al.'s code always does), which
            makes the value invariant to the attributions' scale.
        seed: perturbation j of image i is drawn from ``np.random.default_rng([seed, i,
            j])``: the same seed gives the same value at any batch size.
        apply_softmax: see above.
        batch_size: perturbed images per model call.

    Returns:
        MetricResult ``"infidelity"``: values (N,) in squared score units (logit² by
        default); ``extras``: ``"attribution_dot"`` (N, P) IᵀΦ, ``"score_change"`` (N, P)
        f(x) − f(x − I), ``"beta"`` (N,) (1 without normalize), ``"original"`` (N,) f(x).
    """
    attributions, targets = unpack_explanation(attributions, targets)
    x = as_images(inputs)
    n, h, w, _ = x.shape
    phi = attribution_array(attributions, x)
    p = positive_int(n_perturbations, "n_perturbations")
    max_side = _check_settings(perturbation, noise_std, h, w, max_square)
    base = baseline_like(baseline, x)
    scorer = LogitScorer(model, x, targets, apply_softmax, batch_size)
    perturb = _Perturber(perturbation, x, phi, base, noise_std, max_side, seed)

    dots = np.empty(n * p)

    def make_batch(a, b):
        batch = np.empty((b - a, *x.shape[1:]), np.float32)
        for k in range(a, b):  # builds inputs only: the model runs once per batch
            batch[k - a], dots[k] = perturb(*divmod(k, p))
        return batch

    image_index = np.repeat(np.arange(n), p)
    perturbed_scores = scorer.scores(make_batch, image_index)
    diffs = (scorer.original[image_index] - perturbed_scores).reshape(n, p)
    dots = dots.reshape(n, p)
    values, beta = _errors(dots, diffs, bool(normalize))
    return MetricResult(
        "infidelity", values, extras={"attribution_dot": dots, "score_change": diffs, "beta": beta,
                "original": scorer.original},
    )
