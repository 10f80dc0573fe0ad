"""The template of the perturbation methods (Score-CAM, Ablation-CAM, occlusion).

One forward pass per batch -> the model on perturbed (image, item) pairs, `chunk_size`
pairs per call (see `tfcam.pairs`) -> the pair scores combined into a map. A method writes
four hooks; this base compiles each stage once ("forward", `pair_name`, "combine") and runs
the loop. Each hook gets the call's state first (`tfcam.method_base.Call`: the targets' kind,
the sizes maps are resized to):

* `forward(call, images, indices)` (traced): a dict with at least `scores` and `targets`,
  and whatever the other stages read (the layer's activations);
* `pairs(call, images, forward, part)` (host): a `Pairs`, which pairs run and what they
  read;
* `perturbed(call, part, *pairs.args, image_idx, item_idx, indices)` (traced): the score of
  each perturbed pair of a chunk;
* `combine(call, part, values, forward, *pairs.combine_args)` (traced): maps and raw (and
  channel_weights) from the (N, K) pair values, 0 for pairs that did not run; the values
  are the pair scores, or what `pair_values` makes of them on the host.

`part` is None, or with `perturbed_parts` the input perturbed: a method that perturbs
each input of a multi-input model in turn (occlusion) runs the loop once per input, its
compiled functions named with the input's index, and gets one map per input.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfcam import backend
from tfcam.inputs import batch_shape
from tfcam.method_base import Call, Explainer, to_numpy
from tfcam.pairs import auto_chunk_size, pair_chunks, scatter


@dataclasses.dataclass
class Pairs:
    """The (image, item) pairs of one perturbation of a batch."""

    keep: np.ndarray  # (N, K) bool: the pairs that run; the others score 0
    args: tuple = ()  # device values `perturbed` reads (the images, the masks), chunk-wide
    combine_args: tuple = ()  # device values `combine` reads besides the pair scores


class PerturbationMethod(Explainer):
    """Base of the methods that run the model on perturbed copies (see the module doc)."""

    pair_name = "perturbed"  # the compiled pair function's name

    def __init__(self, model, layer=None, *, chunk_size: int | None = None, **kwargs):
        super().__init__(model, layer, **kwargs)
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ hooks
    def forward(self, call, images, indices) -> dict:
        raise NotImplementedError

    def pairs(self, call, images, forward: dict, part) -> Pairs:
        raise NotImplementedError

    def perturbed(self, call, part, *args):
        raise NotImplementedError

    def combine(self, call, part, values, forward: dict, *args) -> dict:
        raise NotImplementedError

    def pair_values(self, scores: np.ndarray, forward: dict) -> np.ndarray:
        """(N, K) values for `combine` from the pair scores (host numpy; default: as is)."""
        return scores

    def perturbed_parts(self, images) -> tuple:
        """(None,): one perturbation of the batch; input indices: each input in turn."""
        return (None,)

    # ------------------------------------------------------------------ the loop
    def evaluate_pairs(self, call: Call, name: str, fn, keep: np.ndarray, indices: np.ndarray,
                       batch_shape, *args) -> np.ndarray:
        """(N, K) values of `fn(call, *args, image_idx, item_idx, targets)` for the kept
        pairs.

        The pairs run in compiled chunks (see `tfcam.pairs`); results stay on the device
        until all chunks are dispatched, so an accelerator is never idle between chunks.
        """
        run_chunk = self.compiled(call, name, fn)
        chunk = self.chunk_for(batch_shape)
        values = [run_chunk(*args, img, item, tgt)[:count]
                  for img, item, tgt, count in pair_chunks(keep, indices, chunk)]
        return scatter(keep, [np.asarray(v) for v in values])

    def chunk_for(self, batch_shape) -> int:
        """Perturbed inputs per model call: `chunk_size` if set, else sized to the device."""
        if self.chunk_size:
            return int(self.chunk_size)
        return auto_chunk_size(self.program, batch_shape, backend.memory_budget())

    def explain_batch(self, call, images, indices):
        forward = self.compiled(call, "forward", self.forward)(images, indices)
        resolved = np.asarray(forward["targets"])
        out = {"scores": np.asarray(forward["scores"]), "targets": resolved}
        parts = self.perturbed_parts(images)
        done = {part: self._perturb(call, images, forward, resolved, part) for part in parts}
        if parts == (None,):
            fields, count = done[None]
            return dict(**fields, **out, perturbed_inputs=count)
        # One map per input: None for the inputs left unperturbed.
        names = next(iter(done.values()))[0].keys()
        per_input = {name: tuple(done[i][0][name] if i in done else None
                                 for i in range(len(images))) for name in names}
        return dict(**per_input, **out, perturbed_inputs=sum(c for _, c in done.values()))

    def _perturb(self, call, images, forward, resolved, part):
        """(numpy fields of `combine`, perturbed copies per image) of one part."""
        pairs = self.pairs(call, images, forward, part)
        suffix = "" if part is None else str(part)

        def pair_scores(call, *args):  # (*pairs.args, image_idx, item_idx, indices)
            return self.perturbed(call, part, *args)

        def combined(call, values, forward, *args):
            return self.combine(call, part, values, forward, *args)

        scores = self.evaluate_pairs(call, self.pair_name + suffix, pair_scores, pairs.keep,
                                     resolved, batch_shape(images), *pairs.args)
        values = self.pair_values(scores, forward)
        run = self.compiled(call, "combine" + suffix, combined)
        fields = to_numpy(run(values, forward, *pairs.combine_args))
        return fields, pairs.keep.sum(axis=1)
