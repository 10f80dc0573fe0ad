"""SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the input.

sigma = noise_level * (max - min of each image). All noisy copies of a batch go through the
model in one call; the explainer's `batch_size` counts model inputs, so images per call are
`batch_size // samples` (at least one).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam._maps import minmax
from tfcam.attribution.gradients import InputSpaceMethod, input_gradients
from tfcam.explainer import to_numpy


class SmoothGrad(InputSpaceMethod):
    method = "smoothgrad"

    def __init__(self, model, layer=None, *, samples: int = 25, noise_level: float = 0.15,
                 seed: int = 0, **kwargs):
        super().__init__(model, None, **kwargs)
        if samples < 1 or noise_level < 0:
            raise ValueError(
                f"samples must be >= 1 and noise_level >= 0; got {samples}, {noise_level}"
            )
        self.samples, self.noise_level = int(samples), float(noise_level)
        self.batch_size = max(1, self.batch_size // self.samples)
        self._rng = np.random.default_rng(seed)

    def explain_batch(self, images, indices):
        n, shape = len(images), images.shape[1:]
        span = images.reshape(n, -1).max(axis=1) - images.reshape(n, -1).min(axis=1)
        sigma = (self.noise_level * span).reshape(n, 1, *([1] * len(shape)))
        noise = self._rng.standard_normal((n, self.samples, *shape)).astype("float32") * sigma
        noisy = (images[:, None] + noise).reshape(n * self.samples, *shape)
        repeated = np.repeat(indices, self.samples)

        def run(noisy, repeated):
            n, shape = noisy.shape[0] // self.samples, tuple(noisy.shape[1:])  # traced shapes
            grads, scores, resolved = input_gradients(self, noisy, repeated)
            grads = ops.mean(ops.reshape(grads, (n, self.samples, *shape)), axis=1)
            raw = ops.max(ops.abs(grads), axis=-1)
            mean_scores = ops.mean(ops.reshape(scores, (n, self.samples)), axis=1)
            return dict(maps=minmax(raw), raw=raw, scores=mean_scores,
                        targets=resolved[:: self.samples], attributions=grads)

        return to_numpy(self.compiled("smoothgrad", run)(noisy, repeated))
