"""Class model visualization (Simonyan et al., 2014): an input that maximizes a class score.

Gradient ascent on `S_c(x) - l2 * ||x||^2`, with optional jitter (random shifts between
steps) and Gaussian blur every few steps, which give smoother, more natural images.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops
from tqdm.auto import trange

from tfcam import backend, graph, targets


@dataclasses.dataclass
class ClassVisualization:
    """image: (H, W, C) float32; scores: (steps,) the class score before each step."""

    image: np.ndarray
    scores: np.ndarray
    class_index: int


def visualize_class(model, class_index: int, *, steps: int = 200, learning_rate: float = 1.0,
                    l2: float = 1e-3, jitter: int = 0, blur_every: int = 0,
                    blur_sigma: float = 1.0, initial=None, input_shape=None, seed: int = 0,
                    progress: bool | None = None) -> ClassVisualization:
    """Optimize an input for `class_index` of `model`; the model is not modified.

    input_shape: (H, W, C), needed only when the model's input shape has unknown sizes.
    initial: a starting image (H, W, C); default small Gaussian noise.
    """
    program = graph.trace(model)
    spec = targets.resolve(int(class_index), 1, program)
    shape = tuple(input_shape or program.input_shapes[0][1:])
    if any(s is None for s in shape):
        raise ValueError(
            f"model '{model.name}' accepts inputs of any size {program.input_shapes[0]}; "
            "pass input_shape=(H, W, C)."
        )
    rng = np.random.default_rng(seed)
    if initial is None:
        x = rng.normal(0, 0.1, (1, *shape)).astype("float32")
    else:
        x = np.array(initial, dtype="float32")[None]  # a copy: the caller's array is kept

    def objective(x, indices):
        env = program.evaluate({program.input_keys[0]: x}, (program.logit_key,))
        scores, _ = targets.scores_and_targets(program, env, spec, indices)
        return ops.sum(scores) - l2 * ops.sum(ops.square(x)), scores

    def ascent_step(x, indices, shift):
        # Jitter: shift the image, climb, shift back; all on the device.
        x = ops.roll(ops.roll(x, shift[0], axis=1), shift[1], axis=2)
        _, scores, grads = backend.value_and_grad(objective)(x, indices)
        x = x + learning_rate * grads
        return ops.roll(ops.roll(x, -shift[0], axis=1), -shift[1], axis=2), scores[0]

    step = backend.compile_function(ascent_step, model.variables)
    indices = spec.indices
    history = []  # device scalars, read once at the end
    shown = None if progress is None else not progress
    for i in trange(steps, desc="visualize_class", disable=shown):
        shift = rng.integers(-jitter, jitter + 1, size=2) if jitter else np.zeros(2, "int64")
        x, score = step(x, indices, shift.astype("int32"))
        history.append(score)
        if blur_every and (i + 1) % blur_every == 0:
            from scipy.ndimage import gaussian_filter

            x = gaussian_filter(np.asarray(x), sigma=(0, blur_sigma, blur_sigma, 0))
    x = np.asarray(x)
    return ClassVisualization(image=x[0], scores=np.array([float(v) for v in history], "float32"),
                              class_index=int(class_index))
