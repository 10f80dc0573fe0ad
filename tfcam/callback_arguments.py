"""The argument checks of `tfcam.callbacks.ExplanationLogger`: each a clear error naming
what was wrong and how to fix it, raised when the logger is made (or, for what needs the
model, at the start of training)."""

from __future__ import annotations

import numbers

import numpy as np

from tfcam import backend, registry
from tfcam.api import method_class
from tfcam.options import EXPLAIN_PARAMETERS, check_options, method_options


def checked_images(images) -> np.ndarray:
    try:
        array = np.array(images, copy=True)
    except (TypeError, ValueError) as error:
        raise TypeError(f"images must be an array of images (N, H, W, C); could not convert "
                        f"a {type(images).__name__}: {error}") from None
    if isinstance(images, (dict, list, tuple)) and array.dtype == object:
        raise TypeError("images must be one array (N, H, W, C): ExplanationLogger explains "
                        "models with one input")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"images must be numeric, got dtype {array.dtype}")
    if array.ndim not in (3, 4):
        hint = " A single image needs a batch axis: images[None]." if array.ndim == 2 else ""
        raise ValueError(
            f"images must be a batch of images, (N, H, W, C) or (N, H, W) like the model's "
            f"input; got shape {array.shape}.{hint}"
        )
    if len(array) == 0:
        raise ValueError("images is empty: pass at least one image to explain")
    array = array.astype("float32")
    bad = ~np.isfinite(array)
    if bad.any():
        which = sorted(set(np.nonzero(bad)[0].tolist()))
        raise ValueError(
            f"images contain NaN or infinite values (image{'s' if len(which) > 1 else ''} "
            f"{which[:10]}{' ...' if len(which) > 10 else ''}); explanations of them would be "
            "NaN. Pass finite images."
        )
    return array


def checked_methods(method) -> tuple[str, ...]:
    given = [method] if isinstance(method, str) else method
    try:
        given = list(given)
    except TypeError:
        raise TypeError(f"method must be a method id or a list of them, not "
                        f"{type(method).__name__}; see tfcam.methods()") from None
    if not given:
        raise ValueError(f"method is an empty list; pass one or more of {registry.names()}")
    for name in given:
        if not isinstance(name, str):
            raise TypeError(f"method must be a method id (str) or a list of them; got "
                            f"{name!r}. Ids: {registry.names()}")
    return tuple(dict.fromkeys(registry.canonical(name) for name in given))


def options_per_method(methods: tuple[str, ...], options: dict) -> dict:
    """method -> the options it takes. One method: the registry's check (unknown options
    name the method's options); several: each option goes where it is taken."""
    if len(methods) == 1:
        check_options(method_class(methods[0]), options)
        return {methods[0]: dict(options)}
    taken = {m: method_options(method_class(m)) for m in methods}
    unknown = [name for name in options if not any(name in t for t in taken.values())]
    if unknown:
        listed = "; ".join(
            f"{m}: {[o for o in t if o not in EXPLAIN_PARAMETERS] or 'none'}"
            for m, t in taken.items())
        raise TypeError(f"no method of {list(methods)} takes the option"
                        f"{'s' if len(unknown) > 1 else ''} {unknown}. Their options: {listed}.")
    return {m: {k: v for k, v in options.items() if k in taken[m]} for m in methods}


def checked_targets(targets, n: int):
    if targets is None or callable(targets):
        return targets
    if isinstance(targets, bool):
        raise TypeError("targets must be None, a class index, N class indices or a callable, "
                        "not a bool")
    array = np.array(targets, copy=True)
    if array.ndim == 0:
        return array.item() if np.issubdtype(array.dtype, np.number) else targets
    if array.ndim == 2 and array.shape[0] == n and array.shape[1] > 1:
        raise ValueError(
            f"targets has shape {array.shape}: one-hot labels? Pass class indices, "
            "e.g. targets=labels.argmax(-1)."
        )
    if array.ndim != 1 or len(array) != n:
        raise ValueError(
            f"targets must be None, one class index, or one class index per image ({n}); "
            f"got shape {array.shape}."
        )
    return array


def checked_every(every) -> int:
    if isinstance(every, bool) or not isinstance(every, numbers.Integral):
        raise TypeError(f"every must be a whole number of epochs, got {every!r}")
    if every < 1:
        raise ValueError(f"every must be at least 1 (explain every `every` epochs), got {every}")
    return int(every)


def checked_overlay(alpha, cmap) -> tuple[float, str]:
    from matplotlib import colormaps

    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
            or not 0 <= float(alpha) <= 1):
        raise ValueError(f"alpha is the overlay's opacity, in [0, 1]; got {alpha!r}")
    if cmap not in colormaps:
        raise ValueError(f"unknown cmap {cmap!r}: pass a matplotlib colormap name such as "
                         "'jet', 'viridis' or 'inferno' (list(matplotlib.colormaps))")
    return float(alpha), cmap


def checked_tensorboard(tensorboard) -> bool:
    on_tensorflow = backend.NAME == "tensorflow"
    if tensorboard is None:
        return on_tensorflow
    if tensorboard and not on_tensorflow:
        raise ValueError(
            f"tensorboard=True: TensorBoard image summaries need the TensorFlow backend, and "
            f"Keras runs on '{backend.NAME}'. Use png=True (PNG files under log_dir, any "
            "backend), or set KERAS_BACKEND=tensorflow."
        )
    return bool(tensorboard)


def require_image_maps(explanation, model) -> None:
    maps = explanation.maps
    if getattr(maps, "ndim", None) != 3:
        raise ValueError(
            f"ExplanationLogger draws maps over images, (N, H, W); {explanation.method} on "
            f"model '{model.name}' gives maps of shape {np.shape(maps)}. Use tfcam.explain "
            "in a keras.callbacks.LambdaCallback for sequences or volumes."
        )
