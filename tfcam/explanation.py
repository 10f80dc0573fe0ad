"""The result of an explanation: maps, raw maps, targets, scores and helpers to look at them."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Explanation:
    """What `explain` and every method's `attribute` return (all numpy).

    Shapes are given for images, inputs (N, H, W, C). Sequences (Conv1D models), inputs
    (N, T, C), have one spatial axis where images have two: maps (N, T), raw (N, t),
    attributions (N, T, C), relevance (N, t, K). Volumes (Conv3D models), inputs
    (N, D, H, W, C), have three: maps (N, D, H, W), raw (N, d, h, w), attributions
    (N, D, H, W, C), relevance (N, d, h, w, K).

    maps: (N, H, W) float32 in [0, 1], at input resolution.
    raw: (N, h, w) float32 at the explained layer's resolution (input resolution for
        input-space methods), before resizing and normalization.
    signed: (N, h, w) float32, the same place as raw: the method's map with its sign,
        before any ReLU or absolute value (what a signed comparison of maps reads, e.g.
        the sanity checks' signed Spearman): for the CAMs sum_k w_k A^k (Layer-CAM
        sum_k ReLU(g^k) A^k, Eigen-CAM the centred activations' projection), for the
        input-space methods the channel sum of their attributions, for Relevance-CAM and
        occlusion raw before any ReLU.
    targets: (N,) int class explained per sample (None for a callable target).
    scores: (N,) float32 score explained (logit of the target class, or the callable's value).
    method: the method's canonical id (`tfcam.methods()`).
    layer: path of the explained layer (None for input-space methods).
    channel_weights: (N, K) per-channel weights for CAM methods, else None.
    attributions: (N, H, W, C) input-space attributions (gradients, IG, ...), else None.
    relevance: (N, h, w, K) LRP relevance at the layer (or (N, H, W, C) at the input for
        LRP), else None.
    perturbed_inputs: (N,) int, for the perturbation methods (Score-CAM, Ablation-CAM,
        occlusion): how many masked, ablated or occluded copies of each input the model ran.

    Models with several inputs (`input_names` says which, in the model's input order; None
    for a single-input model, whose fields are the arrays above):

    * input-space methods (saliency, input_x_gradient, smooth_grad, integrated_gradients,
      occlusion, lrp, guided_backprop, deconvnet, guided_grad_cam): `maps`, `raw`,
      `attributions` and (LRP) `relevance` are lists with one array per input, each shaped
      as above for that input; an input without spatial axes, (N, F), has maps, raw and
      attributions (N, F). Guided Grad-CAM has None for inputs the CAM layer's map does
      not fit (another spatial rank).
    * CAM methods (cam, grad_cam, grad_cam_pp, xgrad_cam, layer_cam, score_cam,
      ablation_cam, relevance_cam, eigen_cam): `raw`, `channel_weights` and `relevance` are the layer's, as above;
      `maps` is a list with the layer map resized to each input of the layer's spatial
      rank, None for the other inputs.
    * with `input=` (a name or an index) the method explains that input only: `maps` (and
      the per-input fields) are arrays again, and `input_name` names the input.

    `for_input(name_or_index)` returns one input's map either way.
    """

    maps: np.ndarray | list
    raw: np.ndarray | list
    signed: np.ndarray | list
    targets: np.ndarray | None
    scores: np.ndarray
    method: str
    layer: str | None = None
    channel_weights: np.ndarray | None = None
    attributions: np.ndarray | list | None = None
    relevance: np.ndarray | list | None = None
    perturbed_inputs: np.ndarray | None = None
    input_names: tuple[str, ...] | None = None
    input_name: str | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def _index(self, which) -> int:
        """The position of the input `which` (a name or an index) in `input_names`."""
        names = self.input_names or ()
        if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
            count = max(len(names), 1)
            if -count <= which < count:
                return int(which) % count
            raise IndexError(f"input {which} is out of range: the model has {count} input"
                             f"{'s' if count > 1 else ''} {list(names) if names else ''}".rstrip())
        if which in names:
            return names.index(which)
        raise KeyError(f"no input named {which!r}; the model's inputs are {list(names)}"
                       if names else f"no input named {which!r}: the model has one input, "
                       "index 0")

    def for_input(self, which=0):
        """The map of one input (a name or an index): an array (N, ...), or None where the
        method made no map for that input (a CAM whose layer has another spatial rank)."""
        index = self._index(which)
        if isinstance(self.maps, list):
            return self.maps[index]
        names = self.input_names or ()  # set whenever input_name is
        if self.input_name is not None and names[index] != self.input_name:
            raise ValueError(
                f"this explanation holds the map of input '{self.input_name}' only (it was "
                f"made with input='{self.input_name}'), not of '{names[index]}'."
            )
        return self.maps

    def overlay(self, images, alpha: float = 0.45, cmap: str = "jet",
                input=None) -> np.ndarray:  # noqa: A002 - the option's name everywhere
        """RGB uint8 (N, H, W, 3): the maps in `cmap` blended over `images`.

        Images are shown min-max scaled per image (any value range works); grayscale
        images are repeated to RGB. For a model with several inputs, `input` (a name or an
        index) chooses the image input to draw on; `images` may then be all the inputs
        (the list or dict that was explained) or that input's array alone.
        """
        from tfcam.visualize.overlay import overlay

        if self.input_names is None:
            return overlay(images, self.maps, alpha=alpha, cmap=cmap)
        if input is None:
            if self.input_name is None:
                raise ValueError(
                    f"the model has several inputs {list(self.input_names)}: pass input= "
                    "(a name or an index) to choose the images to draw on."
                )
            input = self.input_name  # noqa: A001
        index = self._index(input)
        maps = self.for_input(index)
        if maps is None:
            raise ValueError(
                f"{self.method} made no map for input '{self.input_names[index]}' (its spatial "
                "rank differs from the explained layer's): choose another input."
            )
        if isinstance(images, dict):
            name = self.input_names[index]
            if name not in images:
                raise KeyError(f"images has no input '{name}'; pass that input's array")
            images = images[name]
        elif isinstance(images, (list, tuple)) and len(images) == len(self.input_names):
            images = images[index]
        return overlay(images, maps, alpha=alpha, cmap=cmap)
