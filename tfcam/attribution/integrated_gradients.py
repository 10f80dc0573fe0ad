"""Integrated Gradients (Sundararajan et al., 2017).

attributions = (x - x') * integral_0^1 dS/dx(x' + a (x - x')) da, the integral by the
trapezoid rule ("riemann_trapezoid") or Gauss-Legendre nodes ("gausslegendre"). Completeness:
attributions sum to about S(x) - S(x'). All path points of a batch run in one model call;
`batch_size` counts model inputs, so images per call are `batch_size // steps` (at least one).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam._maps import minmax
from tfcam.attribution.gradients import InputSpaceMethod, input_gradients
from tfcam.explainer import to_numpy

RULES = ("gausslegendre", "riemann_trapezoid")


def path_points(steps: int, rule: str):
    """(alphas, weights) on [0, 1] whose weighted sum approximates the integral."""
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if rule == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("riemann_trapezoid needs at least 2 steps")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    raise ValueError(f"unknown integration rule '{rule}'; choose one of {RULES}")


class IntegratedGradients(InputSpaceMethod):
    method = "integrated_gradients"

    def __init__(self, model, layer=None, *, steps: int = 32, baseline=0.0,
                 rule: str = "gausslegendre", **kwargs):
        super().__init__(model, None, **kwargs)
        alphas, weights = path_points(int(steps), rule)
        if alphas[-1] != 1.0:  # one extra point at the input itself, for its score
            alphas, weights = np.append(alphas, 1.0), np.append(weights, 0.0)
        self.alphas, self.weights = alphas.astype("float32"), weights.astype("float32")
        self.steps = len(alphas)
        self.baseline = baseline
        self.batch_size = max(1, self.batch_size // self.steps)

    def _baselines(self, images):
        baseline = np.asarray(self.baseline, dtype="float32")
        if baseline.ndim in (0, 1) or baseline.shape == images.shape[1:]:
            return np.broadcast_to(baseline, images.shape)
        raise ValueError(
            f"baseline of shape {baseline.shape} does not broadcast to one input "
            f"{images.shape[1:]}; pass a scalar, a per-channel vector or one input."
        )

    def explain_batch(self, images, indices):
        baselines = self._baselines(images).astype("float32")

        def run(images, baselines, indices):
            # The path is built on the device: n * steps inputs never exist on the host.
            n, shape, steps = images.shape[0], tuple(images.shape[1:]), self.steps
            ones = (1,) * len(shape)
            alphas = ops.reshape(self.alphas, (1, steps, *ones))
            path = baselines[:, None] + alphas * (images - baselines)[:, None]
            repeated = ops.repeat(indices, steps)
            grads, scores, resolved = input_gradients(
                self, ops.reshape(path, (n * steps, *shape)), repeated)
            grads = ops.reshape(grads, (n, steps, *shape))
            weights = ops.reshape(self.weights, (1, steps, *ones))
            attributions = (images - baselines) * ops.sum(grads * weights, axis=1)
            raw = ops.sum(attributions, axis=-1)
            return dict(maps=minmax(ops.abs(raw)), raw=raw,
                        scores=ops.reshape(scores, (n, steps))[:, -1],
                        targets=resolved[::steps], attributions=attributions)

        return to_numpy(
            self.compiled("integrated_gradients", run)(images, baselines, indices)
        )
