"""Occlusion (Zeiler & Fergus, 2014): the score drop when a patch is replaced by a baseline.

raw[pixel] = mean over the patches covering the pixel of (S(x) - S(x with patch occluded));
pixels no patch covers get 0. maps = minmax(ReLU(raw)): where occluding lowers the score.
All occluded copies of a batch are evaluated `chunk_size` at a time. Patches are segments of
a sequence, squares of an image and cubes of a volume: `patch` long on every spatial axis.

An input without spatial axes, (N, F) features, is occluded one feature at a time (set to
the baseline): its raw map is (N, F), each feature's score drop; `patch` and `stride` apply
to spatial inputs only. A model with several inputs has each input occluded in turn, the
others left as they are: one map per input (`input=` occludes that input only).
"""

from __future__ import annotations

import itertools

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax, spatial_letters
from tfcam.attribution.gradients import InputSpaceMethod
from tfcam.inputs import batch_shape, each, feeds


def spatial_patch_masks(shape, patch: int, stride: int) -> np.ndarray:
    """(P, *shape) float32 masks, 1 inside each patch, for 1 to 3 spatial axes; patches
    tile the input to its edges (the last one on each axis ends at the edge)."""
    def starts(size):
        last = max(size - patch, 0)
        points = list(range(0, last + 1, stride))
        return points if points[-1] == last else points + [last]

    masks = []
    for corner in itertools.product(*(starts(size) for size in shape)):
        mask = np.zeros(shape, "float32")
        mask[tuple(slice(c, c + patch) for c in corner)] = 1.0
        masks.append(mask)
    return np.stack(masks)


class Occlusion(InputSpaceMethod):
    method = "occlusion"

    def __init__(self, model, layer=None, *, patch: int | None = None, stride: int | None = None,
                 baseline: float = 0.0, chunk_size: int | None = None, **kwargs):
        super().__init__(model, None, **kwargs)
        self.patch, self.stride, self.baseline = patch, stride, float(baseline)
        self.chunk_size = chunk_size

    def _masks(self, shape, name=None):
        patch = self.patch or max(1, min(shape) // 8)
        stride = self.stride or max(1, patch // 2)
        if patch < 1 or stride < 1:
            raise ValueError(f"patch and stride must be positive; got {patch}, {stride}")
        if patch > min(shape):
            # A patch that does not fit would be clipped to the input: every copy occluded
            # alike along that axis, so the map would be flat (all zeros after minmax).
            raise ValueError(
                f"occlusion patch={patch} is larger than "
                f"{'the input' if name is None else f'input {name!r}'}: its spatial size is "
                f"{_size_text(shape)}. Pass patch={max(1, min(shape) // 8)} or any size up "
                f"to {min(shape)}."
            )
        return spatial_patch_masks(shape, patch, stride)

    def explain_batch(self, images, indices):
        program, spec = self.program, self.spec

        def scores_of(x, indices):
            env = program.evaluate(feeds(program, x), targets.score_keys(program, spec))
            return targets.scores_and_targets(program, env, spec, indices)

        scores, resolved = self.compiled("scores", scores_of)(images, indices)
        resolved = np.asarray(resolved)
        out = dict(scores=np.asarray(scores), targets=resolved)
        if not isinstance(images, tuple):
            maps, raw, count = self._occlude(images, None, scores, resolved, scores_of)
            return dict(maps=maps, raw=raw, **out, perturbed_inputs=count)
        # Each input in turn (only the one chosen with input=), the others unchanged.
        occluded = [self._occlude(images, i, scores, resolved, scores_of)
                    if i in self.map_inputs else (None, None, 0) for i in range(len(images))]
        maps, raw, counts = zip(*occluded)
        return dict(maps=maps, raw=raw, **out, perturbed_inputs=sum(counts))

    def _occlude(self, images, index, scores, resolved, scores_of):
        """(maps, raw, copies per image) of occluding one input: `images` itself when
        `index` is None, else `images[index]` with the other inputs as they are."""
        x = images if index is None else images[index]
        spatial = x.ndim > 2
        if spatial:
            name = None if index is None else self.input_names[index]
            masks = self._masks(tuple(x.shape[1:-1]), name)
            pixels = spatial_letters(len(masks.shape) - 1)
        else:  # (N, F) features: one at a time
            masks, pixels = np.eye(x.shape[1], dtype="float32"), "f"
        baseline = self.baseline
        suffix = "" if index is None else str(index)

        def occlude(x, m):
            return x * (1 - m) + baseline * m

        def occluded(images, masks, image_idx, patch_idx, indices):
            m = ops.take(masks, patch_idx, axis=0)
            m = m[..., None] if spatial else m
            if index is None:
                x = occlude(ops.take(images, image_idx, axis=0), m)
            else:
                x = tuple(ops.take(v, image_idx, axis=0) for v in images)
                x = (*x[:index], occlude(x[index], m), *x[index + 1:])
            return scores_of(x, indices)[0]

        def combine(scores, occluded_scores, masks):
            # Each pixel: the mean drop of the patches that cover it (0 where none does).
            drops = scores[:, None] - occluded_scores
            coverage = ops.maximum(ops.sum(masks, axis=0), 1.0)
            raw = ops.einsum(f"np,p{pixels}->n{pixels}", drops, masks) / coverage
            return minmax(ops.relu(raw)), raw

        masks = ops.convert_to_tensor(masks)
        keep = np.ones((len(x), masks.shape[0]), dtype=bool)
        occluded_scores = self.evaluate_pairs(
            "occluded" + suffix, occluded, keep, resolved, batch_shape(images),
            each(ops.convert_to_tensor, images), masks)
        maps, raw = self.compiled("combine" + suffix, combine)(scores, occluded_scores, masks)
        return np.asarray(maps), np.asarray(raw), keep.sum(axis=1)


def _size_text(shape) -> str:
    return "×".join(str(int(s)) for s in shape)
