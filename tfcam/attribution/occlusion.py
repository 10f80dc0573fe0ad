"""Occlusion (Zeiler & Fergus, 2014): the score drop when a patch is filled in.

`fill` is what an occluded patch becomes (`tfcam.fill`): 0 (the default, "black"),
"mean" (each image's mean colour, per channel), "blur" (a Gaussian-blurred copy), a number
or one number per channel. Zeiler & Fergus occlude with a grey square; codes that occlude
the *normalized* tensor with 0 fill with the data set's mean colour
(`fill=[0.485, 0.456, 0.406]` on ImageNet images in [0, 1]). `baseline=` is its old
name (deprecated).

raw[pixel] = mean over the patches covering the pixel of (S(x) - S(x with patch occluded));
pixels no patch covers get 0. maps = minmax(ReLU(raw)): where occluding lowers the score.
All occluded copies of a batch are evaluated `chunk_size` at a time. Patches are segments of
a sequence, squares of an image and cubes of a volume: `patch` long on every spatial axis.

An input without spatial axes, (N, F) features, is occluded one feature at a time (set to
the fill): its raw map is (N, F), each feature's score drop; `patch` and `stride` apply
to spatial inputs only. A model with several inputs has each input occluded in turn, the
others left as they are: one map per input (`input=` occludes that input only).
"""

from __future__ import annotations

import itertools

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax, spatial_letters
from tfcam.fill import blend, check_fill, fill_values
from tfcam.inputs import each, feeds
from tfcam.method_base import InputSpaceMethod
from tfcam.perturbation import Pairs, PerturbationMethod
from tfcam.registry import register
from tfcam.renamed import renamed


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


@register("occlusion")
class Occlusion(PerturbationMethod, InputSpaceMethod):
    pair_name = "occluded"

    @renamed(baseline="fill")
    def __init__(self, model, layer=None, *, patch: int | None = None, stride: int | None = None,
                 fill=0.0, chunk_size: int | None = None, **kwargs):
        check_fill(fill)  # an unknown fill fails here, before any model call
        super().__init__(model, None, chunk_size=chunk_size, **kwargs)
        self.patch, self.stride, self.fill = patch, stride, fill

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

    def forward(self, call, images, indices):
        program, spec = self.program, call.spec
        env = program.evaluate(feeds(program, images), targets.score_keys(program, spec))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        return {"scores": scores, "targets": resolved}

    def perturbed_parts(self, images):
        # Each input in turn (only the one chosen with input=), the others unchanged.
        return tuple(self.map_inputs) if isinstance(images, tuple) else (None,)

    def pairs(self, call, images, forward, part):
        x = images if part is None else images[part]
        if x.ndim > 2:
            name = None if part is None else self.input_names[part]
            masks = self._masks(tuple(x.shape[1:-1]), name)
        else:  # (N, F) features: one at a time
            masks = np.eye(x.shape[1], dtype="float32")
        masks = ops.convert_to_tensor(masks)
        keep = np.ones((len(x), masks.shape[0]), dtype=bool)
        # The fill of each image, computed on the host, goes to the device once (none for
        # black: the patch is multiplied out).
        filler = fill_values(self.fill, np.asarray(x))
        fills = () if filler is None else (ops.convert_to_tensor(filler),)
        return Pairs(keep, (each(ops.convert_to_tensor, images), masks, *fills), (masks,))

    def perturbed(self, call, part, images, masks, *rest):
        *fills, image_idx, patch_idx, indices = rest
        fill = ops.take(fills[0], image_idx, axis=0) if fills else None

        def occlude(x, m):
            return blend(x, 1 - m, fill)  # the patch (m = 1) takes the fill

        m = ops.take(masks, patch_idx, axis=0)
        x = images if part is None else images[part]
        m = m[..., None] if len(x.shape) > 2 else m  # spatial inputs have channels
        if part is None:
            x = occlude(ops.take(images, image_idx, axis=0), m)
        else:
            x = tuple(ops.take(v, image_idx, axis=0) for v in images)
            x = (*x[:part], occlude(x[part], m), *x[part + 1:])
        env = self.program.evaluate(feeds(self.program, x),
                                    targets.score_keys(self.program, call.spec))
        return targets.scores_and_targets(self.program, env, call.spec, indices)[0]

    def combine(self, call, part, occluded_scores, forward, masks):
        # Each pixel: the mean drop of the patches that cover it (0 where none does).
        pixels = spatial_letters(len(masks.shape) - 1)
        drops = forward["scores"][:, None] - occluded_scores
        coverage = ops.maximum(ops.sum(masks, axis=0), 1.0)
        raw = ops.einsum(f"np,p{pixels}->n{pixels}", drops, masks) / coverage
        return {"maps": minmax(ops.relu(raw)), "raw": raw, "signed": raw}


def _size_text(shape) -> str:
    return "×".join(str(int(s)) for s in shape)
