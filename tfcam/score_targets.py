"""Ready-made `targets=` callables for outputs that are not class logits: segmentation maps,
regression values and embeddings (what pytorch-grad-cam calls model targets).

Each helper returns a callable `target(outputs) -> (N,)` float32 scores, written with
`keras.ops` only, so it runs inside tfcam's compiled functions on TensorFlow and JAX (and on
numpy outputs, as `tfcam.metrics` calls it). It reads the model's outputs as given: after
the model's last activation (a softmax head gives probabilities here, not logits).

    import tfcam
    target = tfcam.segmentation_target(2, mask=road_mask)     # class 2 over a region
    ex = tfcam.explain(unet, images, method="grad_cam", layer="bottleneck", targets=target)

tfcam calls a target on batches of inputs, on copies of them (Integrated Gradients' path
points, SmoothGrad's noisy copies) and on perturbed inputs (Score-CAM, occlusion), without
saying which sample a row came from; so a mask is one region shared by every sample, never
one mask per sample (explain one image per call for that).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
from keras import ops

__all__ = [
    "RegressionTarget", "SegmentationTarget", "SimilarityTarget",
    "regression_target", "segmentation_target", "similarity_target",
]

_TINY = 1e-12  # floor of a squared norm: a zero embedding scores 0, with finite gradients


# --------------------------------------------------------------------------- factories
def segmentation_target(class_index: int, mask=None, output: int | None = None) -> SegmentationTarget:
    """Class `class_index`'s output summed over a region, per sample: the score of a
    segmentation model's (N, spatial..., classes) output, e.g. (N, H, W, C).

    mask: the region, one for all samples, shaped like the output's spatial axes ((H, W);
        (T,) for sequences, (D, H, W) for volumes): bool or 0/1 numbers (numpy or nested
        lists). None: the pixels each sample predicts as `class_index` (argmax over
        classes), found on every input the target is called on and held constant (no
        gradient flows through the choice of pixels). Methods that run the model on copies
        (Integrated Gradients, SmoothGrad, Score-CAM, occlusion) then re-predict the region
        on each copy; pass `mask=` (e.g. from `model.predict`) to keep one region.
    output: which of the model's outputs, for a model with several (an index into them).

    The sum is of the output as the model gives it: probabilities if the model ends in a
    softmax (pytorch-grad-cam's SemanticSegmentationTarget sums them too), logits if its last
    layer is linear.

    Example:
        >>> road = np.zeros((64, 64), bool); road[40:, :] = True
        >>> ex = tfcam.explain(unet, images, method="grad_cam", layer="bottleneck",
        ...                    targets=tfcam.segmentation_target(2, mask=road))
        >>> ex.scores  # (N,): class 2's output summed over the road pixels
    """
    return SegmentationTarget(_class_index(class_index), _mask(mask), _output_index(output))


def regression_target(index=None, output: int | None = None) -> RegressionTarget:
    """A raw output value per sample (no softmax): for regression heads and other scalars.

    index: None for an (N,) or (N, 1) output; an int for column `index` of an (N, K) output;
        a tuple of ints for one value of a larger per-sample output ((N, A, B): `(a, b)`).
    output: which of the model's outputs, for a model with several (an index into them).

    Example:
        >>> ex = tfcam.explain(model, images, method="saliency",
        ...                    targets=tfcam.regression_target(index=1))  # second value
        >>> ex.scores  # (N,): model.predict(images)[:, 1]
    """
    return RegressionTarget(_value_index(index), _output_index(output))


def similarity_target(reference, output: int | None = None) -> SimilarityTarget:
    """Cosine similarity of each sample's embedding to `reference`, in [-1, 1]: what makes
    an image look like a concept (pytorch-grad-cam's SimilarityToConceptTarget).

    reference: the concept's embedding, (D,) (any shape: it is flattened, as each sample's
        output is, so an (N, h, w, c) output compares with an (h, w, c) or (h·w·c,)
        reference). Only its direction counts: it is scaled to unit length.
    output: which of the model's outputs, for a model with several (an index into them).

    Example:
        >>> concept = embedder.predict(car_images).mean(axis=0)   # (D,)
        >>> ex = tfcam.explain(embedder, images, method="grad_cam",
        ...                    targets=tfcam.similarity_target(concept))
        >>> ex.scores  # (N,): cosine similarity of each image's embedding to the concept
    """
    return SimilarityTarget(_reference(reference), _output_index(output))


# --------------------------------------------------------------------------- callables
@dataclasses.dataclass(frozen=True, eq=False, repr=False)  # eq=False: numpy fields
class SegmentationTarget:
    """See `segmentation_target`. `mask`: float32 0/1 of the spatial shape, or None."""

    class_index: int
    mask: np.ndarray | None
    output: int | None = None

    def __call__(self, outputs):
        y = ops.cast(_pick(outputs, self.output, self), "float32")
        spatial = tuple(y.shape[1:-1])
        if len(y.shape) < 3:
            raise ValueError(
                f"{self!r}: the model's output has shape {tuple(y.shape)}; a segmentation "
                "target needs (N, spatial..., classes), e.g. (N, H, W, C). For an (N, K) "
                "output pass a class index, or use tfcam.regression_target(index=k)."
            )
        classes = y.shape[-1]
        if self.class_index >= classes:
            raise ValueError(
                f"{self!r}: class_index {self.class_index} is out of range: the output "
                f"{tuple(y.shape)} has {classes} classes (0..{classes - 1}) on its last axis."
            )
        scores = y[..., self.class_index]  # (N, spatial...)
        if self.mask is None:
            # the region is an input to the score, not part of it: no gradient through it
            mask = ops.stop_gradient(ops.cast(
                ops.equal(ops.argmax(y, axis=-1), self.class_index), "float32"))
        else:
            mask = self.mask
            _check_mask_shape(self, mask, spatial)
        return ops.sum(scores * mask, axis=tuple(range(1, len(y.shape) - 1)))

    def __repr__(self) -> str:
        if self.mask is None:
            region = f"mask=None (the pixels predicted as {self.class_index})"
        else:
            region = f"mask={self.mask.shape} with {int(self.mask.sum())} pixels"
        return f"segmentation_target(class_index={self.class_index}, {region}{_output_repr(self.output)})"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class RegressionTarget:
    """See `regression_target`. `index`: None or a tuple of ints (per-sample axes)."""

    index: tuple[int, ...] | None = None
    output: int | None = None

    def __call__(self, outputs):
        y = ops.cast(_pick(outputs, self.output, self), "float32")
        per_sample = tuple(y.shape[1:])
        if self.index is None:
            if per_sample not in ((), (1,)):
                raise ValueError(
                    f"{self!r}: the output has {per_sample} values per sample (shape "
                    f"{tuple(y.shape)}); pass index= to choose one, e.g. "
                    f"regression_target(index={(0,) * len(per_sample) if len(per_sample) > 1 else 0})."
                )
            return ops.reshape(y, (-1,))
        if len(self.index) != len(per_sample) or any(
                not -size <= i < size for i, size in zip(self.index, per_sample)):
            raise ValueError(
                f"{self!r}: index {_index_repr(self.index)} does not pick one value of the "
                f"output's {per_sample} per sample (shape {tuple(y.shape)}); give "
                f"{len(per_sample)} index(es) within those sizes."
            )
        return y[(slice(None), *self.index)]

    def __repr__(self) -> str:
        parts = [] if self.index is None else [f"index={_index_repr(self.index)}"]
        parts += [] if self.output is None else [f"output={self.output}"]
        return f"regression_target({', '.join(parts)})"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SimilarityTarget:
    """See `similarity_target`. `reference`: the unit-length (D,) float32 reference."""

    reference: np.ndarray
    output: int | None = None

    def __call__(self, outputs):
        y = ops.cast(_pick(outputs, self.output, self), "float32")
        size = int(np.prod(y.shape[1:]))
        if size != self.reference.size:
            raise ValueError(
                f"{self!r}: the reference has {self.reference.size} values but each sample's "
                f"output has {size} (output shape {tuple(y.shape)}); give a reference "
                "embedding of the model's output size (e.g. model.predict(image[None])[0])."
            )
        y = ops.reshape(y, (-1, size))
        norms = ops.sqrt(ops.maximum(ops.sum(y * y, axis=1), _TINY))
        return ops.sum(y * self.reference, axis=1) / norms

    def __repr__(self) -> str:
        return f"similarity_target(reference=({self.reference.size},){_output_repr(self.output)})"


# --------------------------------------------------------------------------- checks
def _class_index(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"class_index must be an int (the class's position on the output's last axis), "
            f"got {value!r} of type {type(value).__name__}."
        )
    if value < 0:
        raise ValueError(f"class_index must be >= 0 (a position on the classes axis), got {value}.")
    return int(value)


def _output_index(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"output must be None or an int (the position of one of the model's outputs), "
            f"got {value!r} of type {type(value).__name__}."
        )
    return int(value)


def _value_index(index) -> tuple[int, ...] | None:
    if index is None:
        return None
    parts = index if isinstance(index, tuple) else (index,)
    if not parts or any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in parts):
        raise TypeError(
            f"index must be None, an int or a tuple of ints (one per axis of each sample's "
            f"output), got {index!r}."
        )
    return tuple(int(i) for i in parts)


def _mask(mask) -> np.ndarray | None:
    """The mask as float32 0/1, after the checks that need no model."""
    if mask is None:
        return None
    array = np.asarray(mask)
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.integer)
                                    or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(
            f"mask must be bool or 0/1 numbers, got dtype {array.dtype}; e.g. "
            "mask=(labels == c) or mask.astype(bool)."
        )
    if array.ndim == 0 or array.size == 0:
        raise ValueError(
            f"mask must cover the output's spatial axes, e.g. (H, W); got shape {array.shape}."
        )
    if array.dtype != bool:
        if not np.isfinite(array).all():
            raise ValueError("mask has NaN or inf values; a mask is bool or 0/1: "
                             "e.g. mask=np.nan_to_num(mask) > 0.5.")
        bad = array[(array != 0) & (array != 1)]
        if bad.size:
            raise ValueError(
                f"mask values must be 0 or 1 (or bool), found {bad.flat[0].item()!r}; threshold it "
                "(mask > 0.5), or for weighted pixels write the target yourself: "
                "targets=lambda y: keras.ops.sum(y[..., c] * weights, axis=(1, 2))."
            )
    if not array.any():
        raise ValueError(
            f"mask selects no pixel (all {array.size} are 0/False): the score would be 0 "
            "and every map empty. Pass a mask with the region of interest set."
        )
    return array.astype("float32")


def _check_mask_shape(target: SegmentationTarget, mask: np.ndarray, spatial: tuple) -> None:
    """`target`'s mask against the output's spatial axes (static shapes: checked when traced)."""
    shape = mask.shape
    if shape == spatial:
        return
    if shape[1:] == spatial:
        raise ValueError(
            f"{target!r}: the mask has shape {shape}, one {spatial} mask per sample; a target "
            "is one region for every sample, since tfcam calls it on batches and on copies "
            "(path points, noisy or masked inputs) that carry no sample index. Explain one "
            "image per call: for x, m in zip(images, masks): "
            "tfcam.explain(model, x[None], targets=tfcam.segmentation_target(c, mask=m))."
        )
    raise ValueError(
        f"{target!r}: the mask has shape {shape} but the output's spatial axes are {spatial}; "
        f"give a mask of shape {spatial} (resize it to the model's output size)."
    )


def _reference(reference) -> np.ndarray:
    array = np.asarray(reference)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"reference must be a numeric embedding (numpy), got dtype {array.dtype}.")
    array = array.astype("float64").reshape(-1)
    if array.size == 0 or not np.isfinite(array).all():
        raise ValueError(
            f"reference must be a non-empty embedding of finite numbers, got {array.size} "
            f"values{'' if array.size == 0 else ' with NaN or inf'}."
        )
    norm = np.linalg.norm(array)
    if norm == 0:
        raise ValueError("reference is all zeros: it has no direction to compare embeddings "
                         "with; pass the concept's embedding.")
    return (array / norm).astype("float32")


def _pick(outputs, output: int | None, target):
    """The output the target reads: the model's only one, or `outputs[output]`."""
    several = isinstance(outputs, (list, tuple))
    if not several:
        if output not in (None, 0, -1):
            raise ValueError(f"{target!r}: output={output}, but the model has one output; "
                             "leave output=None.")
        return outputs
    if output is None:
        if len(outputs) == 1:
            return outputs[0]
        raise ValueError(
            f"{target!r}: the model has {len(outputs)} outputs "
            f"({', '.join(str(tuple(o.shape)) for o in outputs)}); pass output=i to choose one."
        )
    if not -len(outputs) <= output < len(outputs):
        raise ValueError(f"{target!r}: output={output} is out of range: the model has "
                         f"{len(outputs)} outputs (0..{len(outputs) - 1}).")
    return outputs[output]


def _output_repr(output: int | None) -> str:
    return "" if output is None else f", output={output}"


def _index_repr(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)
