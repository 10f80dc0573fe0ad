"""Token layers of image models (vision transformers) seen as spatial layers.

A ViT turns an (N, H, W, C) image into patch tokens (N, T, C): a patchify convolution of
stride p gives an h × w grid (h = H / p, w = W / p), flattened row by row, often after k
leading tokens (a class token, DeiT's distillation token, register tokens): T = k + h·w.
A CAM of such a layer needs the tokens back on their grid: `TokenGrid` drops the k leading
tokens and reshapes the rest to (N, h, w, C), as pytorch-grad-cam's `reshape_transform`.

The grid is read from the model where it can be: a 4-D layer of h × w with h·w = T − k (a
patchify convolution traced as a layer), else from the input size (a stride p with
⌈H/p⌉·⌈W/p⌉ = T − k). When neither gives one answer, the user passes `reshape=`: a grid
`(h, w)` (the leading tokens are the rest) or a callable tokens → (N, h, w, C).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import keras
from keras import ops

MAX_LEADING = 8  # class, distillation and register tokens ViTs put before the patches


@dataclasses.dataclass(frozen=True)
class TokenGrid:
    """Tokens (N, T, C) as an (N, h, w, C) grid after `leading` tokens; or, given
    `transform`, whatever the user's reshape callable makes of them."""

    grid: tuple[int, int] | None
    leading: int = 0
    transform: Callable | None = None

    def to_spatial(self, tokens):
        """(N, T, C) -> (N, h, w, C) (traced; keras.ops)."""
        if self.transform is not None:
            spatial = self.transform(tokens)
            if len(spatial.shape) != 4:
                raise ValueError(
                    f"reshape= must turn tokens {tuple(tokens.shape)} into (N, h, w, C); it "
                    f"returned shape {tuple(spatial.shape)}.")
            return spatial
        h, w = self._grid()
        return ops.reshape(tokens[:, self.leading:, :], (-1, h, w, tokens.shape[-1]))

    def describe(self) -> str:
        if self.transform is not None:
            return f"tokens reshaped by {getattr(self.transform, '__name__', self.transform)}"
        h, w = self._grid()
        lead = f" after {self.leading} leading token(s)" if self.leading else ""
        return f"tokens on a {h}×{w} grid{lead}"

    def _grid(self) -> tuple[int, int]:
        if self.grid is None:
            raise ValueError("a TokenGrid needs a grid (h, w) or a transform; it has neither")
        return self.grid


def is_token_shape(shape, input_shapes) -> bool:
    """(batch, tokens, channels) in a model whose inputs are all images (batch, H, W, C)."""
    return (len(shape) == 3 and bool(input_shapes)
            and all(len(s) == 4 for s in input_shapes))


def infer_grid(program, shape) -> TokenGrid | None:
    """The grid of a token layer of `shape` (N, T, C), or None when the model does not
    settle it (no grid, or several)."""
    tokens = shape[1]
    if tokens is None:
        return None
    found = _grids_of_layers(program, tokens) or _grids_of_strides(program, tokens)
    return TokenGrid(*found[0]) if len(found) == 1 else None


def _grids_of_layers(program, tokens: int) -> list:
    """(grid, leading) of the model's 4-D layers with h·w tokens after 0..MAX_LEADING."""
    found = set()
    for step in program.steps:
        for shape in step.output_shapes:
            if len(shape) == 4 and None not in shape[1:3]:
                h, w = int(shape[1]), int(shape[2])
                if h * w > 1 and 0 <= tokens - h * w <= MAX_LEADING:
                    found.add(((h, w), tokens - h * w))
    return sorted(found, key=lambda g: g[1])[:1] if found else []


def _grids_of_strides(program, tokens: int) -> list:
    """(grid, leading) with (H/p)·(W/p) = T − k for a patch size p that tiles the input
    (else ⌈H/p⌉·⌈W/p⌉, padded patches); several grids for one T come back all."""
    (_, height, width, _), *_ = program.input_shapes
    if height is None or width is None:
        return []
    for tiles in (True, False):
        found = set()
        for stride in range(1, max(height, width) + 1):
            if tiles and (height % stride or width % stride):
                continue
            h, w = math.ceil(height / stride), math.ceil(width / stride)
            if h * w > 1 and 0 <= tokens - h * w <= MAX_LEADING:
                found.add(((h, w), tokens - h * w))
        if found:
            return sorted(found)
    return []


# Layers that compute each token from the same token (of each input): what reads their
# output at token i reads their input at token i only.
_PER_TOKEN = (keras.layers.Dropout, keras.layers.LayerNormalization, keras.layers.Dense,
              keras.layers.Activation, keras.layers.Identity, keras.layers.Add,
              keras.layers.Multiply)
_PER_TOKEN_OPS = tuple(getattr(keras.src.ops.numpy, n) for n in ("Add", "Multiply", "Subtract")
                       if hasattr(keras.src.ops.numpy, n))
_GET_ITEM = getattr(keras.src.ops.numpy, "GetItem", ())


def reads_leading_only(program, key: str, grid: TokenGrid) -> bool:
    """Whether the model reads only the leading tokens of `key` (a class-token head after
    the last attention layer: `x[:, 0]`); a CAM of its patch tokens is then 0."""
    if not grid.leading:
        return False
    tokens = program.shape_of(key)[1]
    todo, seen = [key], set()
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        if k in program.output_keys:
            return False
        for step in program.consumers(k):
            if isinstance(step.operation, _GET_ITEM):
                index = step.node.arguments.args[1] if len(step.node.arguments.args) > 1 else None
                if not _leading_index(index, grid.leading):
                    return False
            elif (isinstance(step.layer, _PER_TOKEN + _PER_TOKEN_OPS)
                  or step.part == "activation") and all(
                    len(s) == 3 and s[1] == tokens for s in step.output_shapes):
                todo.extend(step.outputs)
            else:
                return False
    return True


def _leading_index(index, leading: int) -> bool:
    """`x[:, i]` (or `x[:, a:b]`) with only leading tokens (a list once the model has been
    saved and loaded)."""
    if not isinstance(index, (tuple, list)) or len(index) != 2 or index[0] != slice(None):
        return False
    token = index[1]
    if isinstance(token, int):
        return 0 <= token < leading
    if isinstance(token, slice) and token.step in (None, 1):
        start, stop = token.start or 0, token.stop
        return stop is not None and 0 <= start and 0 < stop <= leading
    return False


def from_option(reshape, shape) -> TokenGrid:
    """`reshape=`: a callable, or a grid (h, w) whose h·w tokens are the last of T."""
    if callable(reshape):
        return TokenGrid(None, 0, reshape)
    tokens = shape[1]
    try:
        h, w = (int(v) for v in reshape)
    except (TypeError, ValueError):
        raise TypeError(
            f"reshape= takes a grid (h, w) or a callable tokens -> (N, h, w, C), not "
            f"{reshape!r}.") from None
    if h < 1 or w < 1 or (tokens is not None and h * w > tokens):
        raise ValueError(
            f"reshape=({h}, {w}) needs {h * w} tokens, but the layer has {tokens} (shape "
            f"{tuple(shape)}); give a grid of at most {tokens} tokens.")
    return TokenGrid((h, w), 0 if tokens is None else tokens - h * w)
