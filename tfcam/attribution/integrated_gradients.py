"""Integrated Gradients (Sundararajan et al., 2017).

attributions = (x - x') * integral_0^1 dS/dx(x' + a (x - x')) da, the integral by the
trapezoid rule ("riemann_trapezoid") or Gauss-Legendre nodes ("gausslegendre"). Completeness:
attributions sum to about S(x) - S(x'). All path points of a batch run in one model call;
`batch_size` counts images; a call runs at most `chunk_size` model inputs (path points), so
it may explain fewer images (`tfcam.attribution.copies`).

A model with several inputs: the path runs from the baselines of all inputs to the inputs
together, and each input gets its attributions. `baseline` is then one value for every
input (a scalar or an array that broadcasts to each) or a list/tuple with one per input.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam._maps import channel_sum, minmax
from tfcam.attribution.copies import InputCopiesMethod
from tfcam.attribution.gradients import input_gradients
from tfcam.inputs import each, num_samples
from tfcam.registry import register

RULES = ("gausslegendre", "riemann_trapezoid")


def path_points(steps: int, rule: str):
    """(alphas, weights) on [0, 1] whose weighted sum approximates the integral."""
    if isinstance(steps, bool) or not float(steps).is_integer() or steps < 1:
        raise ValueError(
            f"integrated_gradients needs steps >= 1 (the number of points on the path from "
            f"the baseline to the input), got steps={steps!r}; the default is 32."
        )
    steps = int(steps)
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


@register("integrated_gradients")
class IntegratedGradients(InputCopiesMethod):
    """Integrated Gradients (Sundararajan et al., 2017): (x - x') times the gradient averaged from baseline x' to x."""

    def __init__(self, model, layer=None, *, steps: int = 32, baseline=0.0,
                 rule: str = "gausslegendre", **kwargs):
        super().__init__(model, None, **kwargs)
        alphas, weights = path_points(steps, rule)
        if alphas[-1] != 1.0:  # one extra point at the input itself, for its score
            alphas, weights = np.append(alphas, 1.0), np.append(weights, 0.0)
        self.alphas, self.weights = alphas.astype("float32"), weights.astype("float32")
        self.steps = self.copies = len(alphas)
        self.baseline = baseline

    def _baselines(self, images):
        if not isinstance(images, tuple):
            return _broadcast_baseline(self.baseline, images, None)
        names = self.input_names
        if isinstance(self.baseline, (list, tuple)):
            if len(self.baseline) != len(images):
                raise ValueError(
                    f"baseline is a {type(self.baseline).__name__} of {len(self.baseline)}, "
                    f"but model '{self.program.model.name}' has {len(images)} inputs "
                    f"{list(names)}: pass one baseline per input, or one value (a scalar "
                    "or an array) for all."
                )
            per_input = self.baseline
        else:
            per_input = [self.baseline] * len(images)
        return tuple(_broadcast_baseline(b, x, name)
                     for b, x, name in zip(per_input, images, names))

    def batch_arguments(self, call, images):
        return (each(lambda b: b.astype("float32"), self._baselines(images)),)

    def traced(self, call, images, indices, baselines):
        # The path is built on the device: n * steps inputs never exist on the host.
        n, steps = num_samples(images), self.steps

        def path_of(x, baseline):
            shape = tuple(x.shape[1:])
            alphas = ops.reshape(self.alphas, (1, steps, *(1,) * len(shape)))
            path = baseline[:, None] + alphas * (x - baseline)[:, None]
            return ops.reshape(path, (n * steps, *shape))

        def attribution(x, baseline, grads):
            shape = tuple(x.shape[1:])
            grads = ops.reshape(grads, (n, steps, *shape))
            weights = ops.reshape(self.weights, (1, steps, *(1,) * len(shape)))
            return (x - baseline) * ops.sum(grads * weights, axis=1)

        repeated = ops.repeat(indices, steps)
        grads, scores, resolved = input_gradients(
            self, call.spec, each(path_of, images, baselines), repeated)
        attributions = each(attribution, images, baselines, grads)
        raw = each(channel_sum, attributions)
        return dict(maps=each(lambda r: minmax(ops.abs(r)), raw), raw=raw, signed=raw,
                    scores=ops.reshape(scores, (n, steps))[:, -1],
                    targets=resolved[::steps], attributions=attributions)


def _broadcast_baseline(baseline, images, name):
    """The baseline of one input broadcast to its batch `images` (N, ...)."""
    baseline = np.asarray(baseline, dtype="float32")
    if baseline.ndim in (0, 1) or baseline.shape == images.shape[1:]:
        try:
            return np.broadcast_to(baseline, images.shape)
        except ValueError:
            if name is None:
                raise
    of = "one input" if name is None else f"one sample of input '{name}'"
    raise ValueError(
        f"baseline of shape {baseline.shape} does not broadcast to {of} "
        f"{images.shape[1:]}; pass a scalar, a per-channel vector or one input."
    )
