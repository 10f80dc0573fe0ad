"""Score-CAM (Wang et al., CVPR Workshops 2020).

m_k = Up(A^k); s_k = softmax(f(X * minmax(m_k)))_c; map ReLU(sum_k s_k m_k), then minmax.
Constant channels are skipped. `max_channels=N` keeps, per image, the N channels ranked
highest by `channel_ranking` (Faster Score-CAM):

* "mean" (default): the channel's mean activation over the layer's spatial axes;
* "std": its population standard deviation (ddof=0) over the layer's spatial axes, on the
  layer's activations cast to float32, before any upsampling. This is tf-keras-vis 0.8.7's
  `Scorecam(max_N=N)` ranking (`tf.math.reduce_std(penultimate_output, axis=spatial)`, then
  `tf.math.top_k`) and the "large variance" idea of Faster Score-CAM (tabayashi0117).
  tf-keras-vis then gathers the *union* of the images' top-N channels for every image of its
  batch; here each image keeps its own N (the same on a batch of one).

Ties go to the lower channel index (as `tf.math.top_k`). Masked inputs are evaluated
`chunk_size` at a time.

`fill` is what the masked-out part of the input becomes (`tfcam.fill`): the masked input
is `X * M + fill * (1 - M)`. "black" (the default) is the paper's `X * M` on the input as
the model takes it; Wang et al.'s code (and pytorch-grad-cam's) multiplies the *normalized*
tensor, whose 0 is the data set's mean colour: `fill=[0.485, 0.456, 0.406]` on ImageNet
images in [0, 1]. "mean" fills with each image's own mean colour, "blur" with a blurred copy.

On a model with several inputs one input is masked, the others go in unchanged: the input
chosen with `input=`, by default the first input with the layer's spatial rank.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfcam import targets
from tfcam._maps import minmax, spatial_axes, upsample
from tfcam.cam.base import weighted_sum
from tfcam.fill import blend, check_fill, fill_values
from tfcam.inputs import each, feeds
from tfcam.pairs import select_channels
from tfcam.perturbation import Pairs, PerturbationMethod
from tfcam.registry import register

CHANNEL_RANKINGS = ("mean", "std")


@register("score_cam", aliases=("scorecam",))
class ScoreCAM(PerturbationMethod):
    """Score-CAM (Wang et al., 2020): w_k = the class's softmax score on the input masked by channel k's map."""

    pair_name = "masked_scores"

    def __init__(self, model, layer=None, *, max_channels: int | None = None,
                 channel_ranking: str = "mean", fill="black", chunk_size: int | None = None,
                 **kwargs):
        check_fill(fill)  # an unknown fill fails here, before any model call
        if channel_ranking not in CHANNEL_RANKINGS:
            raise ValueError(f"channel_ranking must be one of {list(CHANNEL_RANKINGS)} (how "
                             f"max_channels ranks channels), got {channel_ranking!r}")
        super().__init__(model, layer, chunk_size=chunk_size, **kwargs)
        if max_channels is not None and max_channels < 1:
            raise ValueError(f"max_channels must be a positive int or None, got {max_channels}")
        self.max_channels = max_channels
        self.channel_ranking = channel_ranking
        self.fill = fill

    def forward(self, call, images, indices):
        program, spec = self.program, call.spec
        env = program.evaluate(feeds(program, images),
                               (self.layer_tap.key, *targets.score_keys(program, spec)))
        scores, resolved = targets.scores_and_targets(program, env, spec, indices)
        acts = ops.cast(self.layer_tap.spatial(env[self.layer_tap.key]), "float32")
        axes = spatial_axes(acts)
        spans = ops.max(acts, axis=axes) - ops.min(acts, axis=axes)
        rank = ops.std if self.channel_ranking == "std" else ops.mean  # population std
        return {"acts": acts, "spans": spans, "ranks": rank(acts, axis=axes),
                "scores": scores, "targets": resolved}

    def pairs(self, call, images, forward, part):
        keep = select_channels(np.asarray(forward["spans"]), np.asarray(forward["ranks"]),
                               self.max_channels)
        channel_maps = ops.moveaxis(forward["acts"], -1, 1)  # (N, K, *spatial): a map each
        # Images (and the fill, per image, computed on the host) go to the device once, not
        # once per chunk; black adds nothing (the plain product, bit for bit).
        masked = images[self.map_inputs[0]] if isinstance(images, tuple) else images
        filler = fill_values(self.fill, np.asarray(masked))
        fills = () if filler is None else (ops.convert_to_tensor(filler),)
        return Pairs(keep, (each(ops.convert_to_tensor, images), channel_maps, *fills))

    def perturbed(self, call, part, images, channel_maps, *rest):
        *fills, image_idx, channel_idx, indices = rest
        program, spec = self.program, call.spec
        several = isinstance(images, tuple)
        masked_input = self.map_inputs[0]  # input=, or the first of the layer's rank
        size = call.input_size[masked_input] if several else call.input_size
        num_channels = channel_maps.shape[1]
        flat = ops.reshape(channel_maps, (-1, *channel_maps.shape[2:]))
        maps = ops.take(flat, image_idx * num_channels + channel_idx, axis=0)
        masks = minmax(upsample(maps, size))[..., None]
        fill = ops.take(fills[0], image_idx, axis=0) if fills else None
        if several:
            masked = tuple(ops.take(x, image_idx, axis=0) for x in images)
            masked = (*masked[:masked_input], blend(masked[masked_input], masks, fill),
                      *masked[masked_input + 1:])
        else:
            masked = blend(ops.take(images, image_idx, axis=0), masks, fill)
        env = program.evaluate(feeds(program, masked), targets.score_keys(program, spec))
        return targets.class_probabilities(program, env, spec, indices)

    def combine(self, call, part, weights, forward):
        signed = weighted_sum(weights, forward["acts"])
        return {"maps": call.to_inputs(signed, relu_after_upsample=True),
                "raw": ops.relu(signed), "signed": signed,
                "channel_weights": weights}
