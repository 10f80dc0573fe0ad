"""SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the input.

sigma = noise_level * (max - min of each image). The noise is drawn on the device and all
noisy copies of a batch go through the model in one call; `batch_size` counts images, and
a call runs at most `chunk_size` model inputs (`tfcam.attribution.copies`).

A model with several inputs gets noise on every input (sigma from each input's own range,
independent draws) and a gradient map per input.
"""

from __future__ import annotations

from keras import ops

from tfcam import backend
from tfcam._maps import channel_max_abs, channel_sum, minmax
from tfcam.attribution.copies import InputCopiesMethod
from tfcam.attribution.gradients import input_gradients
from tfcam.inputs import each, num_samples
from tfcam.registry import register


@register("smooth_grad", aliases=("smoothgrad",))
class SmoothGrad(InputCopiesMethod):
    """SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the input."""
    def __init__(self, model, layer=None, *, samples: int = 25, noise_level: float = 0.15,
                 seed: int = 0, **kwargs):
        super().__init__(model, None, **kwargs)
        if samples < 1 or noise_level < 0:
            raise ValueError(
                f"samples must be >= 1 and noise_level >= 0; got {samples}, {noise_level}"
            )
        self.samples = self.copies = int(samples)
        self.noise_level = float(noise_level)
        self.seed = seed

    def batch_arguments(self, call, images):
        # One seed per batch from the call's generator: every call with the same `seed` draws
        # the same noise, and the noisy copies (samples × the batch) are drawn on the
        # device, never on the host.
        several = isinstance(images, tuple)
        seed = call.rng.integers(0, 2**31 - 1, size=(len(images), 2) if several else 2)
        return (seed.astype("int32"),)  # several inputs: one seed per input

    def traced(self, call, images, indices, seed):
        n, samples = num_samples(images), self.samples

        def noisy_copies(x, seed):
            shape = tuple(x.shape[1:])
            flat = ops.reshape(x, (n, -1))
            span = ops.max(flat, axis=1) - ops.min(flat, axis=1)
            sigma = ops.reshape(self.noise_level * span, (n, 1, *([1] * len(shape))))
            noise = backend.normal((n, samples, *shape), seed) * sigma
            return ops.reshape(x[:, None] + noise, (n * samples, *shape))

        if isinstance(images, tuple):
            noisy = tuple(noisy_copies(x, seed[i]) for i, x in enumerate(images))
        else:
            noisy = noisy_copies(images, seed)
        grads, scores, resolved = input_gradients(self, call.spec, noisy,
                                                  ops.repeat(indices, samples))
        grads = each(lambda g: ops.mean(ops.reshape(g, (n, samples, *g.shape[1:])), axis=1),
                     grads)
        raw = each(channel_max_abs, grads)
        mean_scores = ops.mean(ops.reshape(scores, (n, samples)), axis=1)
        return dict(maps=each(minmax, raw), raw=raw, signed=each(channel_sum, grads),
                    scores=mean_scores,
                    targets=resolved[::samples], attributions=grads)
