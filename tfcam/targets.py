"""What is explained: the class (or scalar) per sample, and its score.

Gradient methods differentiate the *logit*: when the model ends in a softmax (a layer with
`activation="softmax"`, a Softmax layer or an Activation("softmax")), the score is the value
before it, read from the traced graph without changing the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from tfcam.graph import Program

TOP1 = -1  # index meaning "the model's top-1 class for this sample"


@dataclasses.dataclass(frozen=True)
class TargetSpec:
    """Class indices (N,) with TOP1 entries, or a callable `score(outputs) -> (N,)`."""

    indices: np.ndarray | None = None
    score_fn: Callable | None = None

    @property
    def is_callable(self) -> bool:
        return self.score_fn is not None

    def batch(self, start: int, stop: int) -> np.ndarray:
        """Indices for samples [start, stop); zeros stand in for a callable's (unused)."""
        if self.indices is None:
            return np.zeros(stop - start, dtype="int32")
        return self.indices[start:stop]


def resolve(targets, n: int, program: Program) -> TargetSpec:
    """Check `targets` against a batch of `n` samples and the model's outputs."""
    if callable(targets):
        _check_score_shape(targets, n, program)
        return TargetSpec(score_fn=targets)
    if len(program.output_keys) != 1:
        raise ValueError(
            f"model '{program.model.name}' has {len(program.output_keys)} outputs; pass "
            "targets=callable(outputs) -> (N,) scores, e.g. "
            "targets=lambda outs: outs[0][:, 3]."
        )
    logit_shape = program.shape_of(program.logit_key)
    if len(logit_shape) != 2:
        raise ValueError(
            f"model '{program.model.name}' outputs shape {logit_shape}, not (batch, classes); "
            "pass targets=callable(outputs) -> (N,) scores (e.g. the mean of one class's "
            "segmentation logits)."
        )
    return TargetSpec(indices=class_indices(targets, n, logit_shape[-1], program.model.name))


def _check_score_shape(score_fn, n: int, program: Program) -> None:
    """A callable target must give one score per sample: checked before any compiled call,
    on symbolic outputs (no computation) or else on zeros, so that a wrong shape is one clear
    error, not a backend's trace. A callable that runs on neither is checked when it runs
    (`scores_and_targets`)."""
    # symbolic: the whole batch, free; zeros: two samples (enough to tell (N,) from a
    # scalar or a row) rather than N of a possibly large output
    for batch, make in ((n, lambda s: keras.KerasTensor(s, dtype="float32")),
                        (min(n, 2), lambda s: np.zeros(s, "float32"))):
        shapes = [(batch, *program.shape_of(k)[1:]) for k in program.output_keys]
        outputs = [make(s) for s in shapes]
        try:
            shape = tuple(score_fn(outputs[0] if len(outputs) == 1 else outputs).shape)
        except Exception:  # noqa: BLE001, S112 - the next way, or the traced check
            continue
        if shape != (batch,):
            raise ValueError(
                f"targets=callable must return one score per sample, shape ({batch},) for "
                f"{batch} inputs, from the model's outputs {shapes}; it returned shape "
                f"{shape}. E.g. targets=lambda outputs: outputs[:, 3] for class 3."
            )
        return


def class_indices(targets, n: int, num_classes: int, model_name: str) -> np.ndarray:
    """(n,) int32 class indices checked against `num_classes`; TOP1 where `targets` is None.

    `targets` is None, one class index for all samples, or n of them (whole floats such as
    2.0 count as indices). The numpy-level check behind `resolve`, also used by
    `tfcam.metrics`, which reads the number of classes from the model's outputs.
    """
    if targets is None:
        return np.full(n, TOP1, dtype="int32")
    indices = _integral(np.asarray(targets))
    if indices.ndim == 0:
        indices = np.full(n, int(indices))
    if indices.ndim != 1 or len(indices) != n or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(
            f"targets must be an int, None, a callable, or {n} integer class indices (one per "
            f"sample); got an array of shape {np.shape(targets)} and dtype {indices.dtype}."
        )
    bad = indices[(indices < 0) | (indices >= num_classes)]
    if bad.size:
        raise ValueError(
            f"target class {int(bad[0])} is out of range: model '{model_name}' has "
            f"{num_classes} classes (0..{num_classes - 1})."
        )
    return indices.astype("int32")


def _integral(indices: np.ndarray) -> np.ndarray:
    """Float class indices that are whole numbers (2.0, from a float array) as ints."""
    if not np.issubdtype(indices.dtype, np.floating):
        return indices
    whole = np.isfinite(indices) & (indices == np.round(indices))
    if not whole.all():
        bad = indices[~whole].flat[0]
        raise ValueError(
            f"targets are class indices, but {float(bad)} is not a whole number. Pass an int "
            "class index (one for all samples or one per sample), None for the top-1 class, "
            "or a callable for other scores."
        )
    return indices.astype("int64")


def score_keys(program: Program, spec: TargetSpec) -> tuple[str, ...]:
    """The environment keys the score is computed from."""
    return program.output_keys if spec.is_callable else (program.logit_key,)


def model_outputs(program: Program, env: dict):
    outputs = [env[k] for k in program.output_keys]
    return outputs[0] if len(outputs) == 1 else outputs


def scores_and_targets(program: Program, env: dict, spec: TargetSpec, indices):
    """Per-sample scores (N,) and the class indices they belong to (TOP1 resolved).

    For class targets the score is the logit; for a callable, whatever it returns. Scores are
    float32 also on mixed-precision models (whose logits may be bfloat16 or float16).
    """
    if spec.score_fn is not None:  # a callable target
        scores = ops.cast(spec.score_fn(model_outputs(program, env)), "float32")
        if len(scores.shape) != 1:
            raise ValueError(
                f"a callable target must return one score per sample, shape (N,); it "
                f"returned shape {tuple(scores.shape)}."
            )
        return scores, indices
    logits = ops.cast(env[program.logit_key], "float32")
    top1 = ops.cast(ops.argmax(logits, axis=-1), "int32")
    indices = ops.where(indices < 0, top1, indices)
    scores = ops.take_along_axis(logits, indices[:, None], axis=1)[:, 0]
    return scores, indices


def class_probabilities(program: Program, env: dict, spec: TargetSpec, indices):
    """Softmax probability of each sample's class (or the callable's score)."""
    if spec.is_callable:
        return scores_and_targets(program, env, spec, indices)[0]
    probs = ops.softmax(ops.cast(env[program.logit_key], "float32"), axis=-1)
    return ops.take_along_axis(probs, indices[:, None], axis=1)[:, 0]
