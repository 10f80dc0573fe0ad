"""Occlusion (Zeiler & Fergus, 2014): the score drop when a patch is replaced by a baseline.

raw[pixel] = mean over the patches covering the pixel of (S(x) - S(x with patch occluded));
pixels no patch covers get 0. maps = minmax(ReLU(raw)): where occluding lowers the score.
All occluded copies of a batch are evaluated `chunk_size` at a time.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax
from tfcam.attribution.gradients import InputSpaceMethod


def patch_masks(height: int, width: int, patch: int, stride: int) -> np.ndarray:
    """(P, H, W) float32 masks, 1 inside each patch; patches tile the image to its edges."""
    def starts(size):
        last = max(size - patch, 0)
        points = list(range(0, last + 1, stride))
        return points if points[-1] == last else points + [last]

    masks = [
        np.pad(np.ones((min(patch, height), min(patch, width)), "float32"),
               ((top, height - top - min(patch, height)), (left, width - left - min(patch, width))))
        for top in starts(height) for left in starts(width)
    ]
    return np.stack(masks)


class Occlusion(InputSpaceMethod):
    method = "occlusion"

    def __init__(self, model, layer=None, *, patch: int | None = None, stride: int | None = None,
                 baseline: float = 0.0, chunk_size: int | None = None, **kwargs):
        super().__init__(model, None, **kwargs)
        self.patch, self.stride, self.baseline = patch, stride, float(baseline)
        self.chunk_size = chunk_size

    def _masks(self, height, width):
        patch = self.patch or max(1, min(height, width) // 8)
        stride = self.stride or max(1, patch // 2)
        if patch < 1 or stride < 1:
            raise ValueError(f"patch and stride must be positive; got {patch}, {stride}")
        return patch_masks(height, width, patch, stride)

    def explain_batch(self, images, indices):
        program, spec = self.program, self.spec
        masks = self._masks(*images.shape[1:3])
        baseline = self.baseline

        def scores_of(x, indices):
            env = program.evaluate({program.input_keys[0]: x}, targets.score_keys(program, spec))
            return targets.scores_and_targets(program, env, spec, indices)

        def occluded(images, masks, image_idx, patch_idx, indices):
            m = ops.take(masks, patch_idx, axis=0)[..., None]
            x = ops.take(images, image_idx, axis=0) * (1 - m) + baseline * m
            return scores_of(x, indices)[0]

        def combine(scores, occluded_scores, masks):
            # Each pixel: the mean drop of the patches that cover it (0 where none does).
            drops = scores[:, None] - occluded_scores
            coverage = ops.maximum(ops.sum(masks, axis=0), 1.0)
            raw = ops.einsum("np,phw->nhw", drops, masks) / coverage
            return minmax(ops.relu(raw)), raw

        scores, resolved = self.compiled("scores", scores_of)(images, indices)
        resolved = np.asarray(resolved)
        masks = ops.convert_to_tensor(masks)
        keep = np.ones((len(images), masks.shape[0]), dtype=bool)
        occluded_scores = self.evaluate_pairs(
            "occluded", occluded, keep, resolved, images.shape,
            ops.convert_to_tensor(images), masks)
        maps, raw = self.compiled("combine", combine)(scores, occluded_scores, masks)
        return dict(maps=np.asarray(maps), raw=np.asarray(raw), scores=np.asarray(scores),
                    targets=resolved, perturbed_inputs=keep.sum(axis=1))
