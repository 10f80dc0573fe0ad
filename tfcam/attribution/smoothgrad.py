"""SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the input.

sigma = noise_level * (max - min of each image). The noise is drawn on the device and all
noisy copies of a batch go through the model in one call; the explainer's `batch_size`
counts model inputs, so images per call are `batch_size // samples` (at least one).
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import backend
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
        # One seed per batch from the explainer's generator: reproducible for a given `seed`,
        # and the noisy copies (samples × the batch) are drawn on the device, never on the host.
        seed = self._rng.integers(0, 2**31 - 1, size=2).astype("int32")

        def run(images, indices, seed):
            n, shape, samples = images.shape[0], tuple(images.shape[1:]), self.samples
            flat = ops.reshape(images, (n, -1))
            span = ops.max(flat, axis=1) - ops.min(flat, axis=1)
            sigma = ops.reshape(self.noise_level * span, (n, 1, *([1] * len(shape))))
            noise = backend.normal((n, samples, *shape), seed) * sigma
            noisy = ops.reshape(images[:, None] + noise, (n * samples, *shape))
            grads, scores, resolved = input_gradients(self, noisy, ops.repeat(indices, samples))
            grads = ops.mean(ops.reshape(grads, (n, samples, *shape)), axis=1)
            raw = ops.max(ops.abs(grads), axis=-1)
            mean_scores = ops.mean(ops.reshape(scores, (n, samples)), axis=1)
            return dict(maps=minmax(raw), raw=raw, scores=mean_scores,
                        targets=resolved[::samples], attributions=grads)

        return to_numpy(self.compiled("smoothgrad", run)(images, indices, seed))
