"""One figure of images × explanations: the image, then one overlay per method (or layer).

    fig = tfcam.visualize.grid(images, [tfcam.explain(model, images, method=m)
                                        for m in ("grad_cam", "relevance_cam")],
                               labels=class_names)
    fig.savefig("grid.png")

Rows are images, columns the image itself and then each explanation, titled with its method
and layer; every overlay is subtitled with the class it explains and that class's score, and
one colour bar serves all maps (they share the [0, 1] scale). A column that failed (an
exception or a message in place of the explanation) is drawn as a "failed" mark, not left
out. With one image and `ncols`, the panels wrap into rows of `ncols`.

The figure is a `matplotlib.figure.Figure` made without pyplot: no window opens and no
global state changes; `fig.savefig(path)` writes it.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np

from tfcam.visualize.overlay import _display_rgb

FAILED_COLOUR = "#c0392b"


def grid(images, explanations, *, titles=None, labels=None, image_titles=None, outlines=None,
         alpha: float = 0.45, cmap: str = "jet", ncols: int | None = None, cell_size: float = 2.0,
         colorbar: bool = True, title: str | None = None):
    """A matplotlib Figure of `images` (N, H, W, C) × `explanations`.

    explanations: a list of columns, or a dict {column title: column}. A column is an
        `Explanation` of those images (its maps, method, layer, targets and scores are used),
        an array of maps (N, H, W) in [0, 1], or, for a column that failed, an exception or a
        message (drawn as a "failed" mark).
    titles: column titles (default: the method and its layer, "grad_cam @ conv5").
    labels: class names, a list (index -> name) or a dict; the subtitles then name the
        class, "tabby (281), score 9.12", where they would say "class 281, score 9.12"
        (the score is the explained one: the class's logit, `Explanation.scores`).
    image_titles: one title per image for the first column (default "image k").
    outlines: (N, H, W) masks drawn as white contours on every panel (ground truth boxes).
    ncols: with one image, wrap the panels (image first) into rows of this many.
    """
    rgb = _display_rgb(images)
    n, height, width = rgb.shape[:3]
    columns, column_titles = _columns(explanations, titles)
    for column, name in zip(columns, column_titles):
        maps = _maps_of(column)
        if maps is not None and np.shape(maps) != (n, height, width):
            raise ValueError(
                f"column '{name}' has maps of shape {np.shape(maps)} for images of shape "
                f"{np.shape(images)}: explain these images (maps are (N, H, W) at the images' size)."
            )
    if outlines is not None and np.shape(outlines)[:3] != (n, height, width):
        raise ValueError(f"outlines of shape {np.shape(outlines)} do not match images {np.shape(images)}")
    names = image_titles if image_titles is not None else [f"image {k}" for k in range(n)]
    if len(names) != n:
        raise ValueError(f"{len(names)} image_titles for {n} images: give one per image")

    panels: list[tuple[int, str, int | None]] = []  # (row image, kind, column index)
    for k in range(n):
        panels.append((k, "image", None))
        panels.extend((k, "map", c) for c in range(len(columns)))
    per_row = len(columns) + 1
    if n == 1 and ncols:
        per_row = max(1, min(int(ncols), len(panels)))
    rows = math.ceil(len(panels) / per_row)

    from matplotlib import colormaps, colors
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

    # constrained layout: two-line titles and the colour bar get their room, nothing overlaps
    fig = Figure(figsize=(cell_size * per_row + (0.9 if colorbar else 0), cell_size * rows + 0.5),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, per_row, squeeze=False)).ravel()
    heat = colormaps[cmap]
    for ax, (k, kind, c) in zip(axes, panels):
        ax.set_xticks([])
        ax.set_yticks([])
        if kind == "image":
            ax.imshow(rgb[k])
            ax.set_title(str(names[k]), fontsize=8)
        else:
            _draw_column(ax, rgb[k], columns[c], k, heat, alpha, labels)
            if k == 0:
                ax.set_title(column_titles[c], fontsize=8)
        if outlines is not None and (kind == "image" or _maps_of(columns[c]) is not None):
            ax.contour(np.asarray(outlines[k], dtype="float32"), [0.5], colors="w", linewidths=0.7)
    for ax in axes[len(panels):]:
        ax.remove()  # the last row's tail: no empty cells
    if colorbar:
        bar = fig.colorbar(ScalarMappable(colors.Normalize(0, 1), heat), ax=list(axes[:len(panels)]),
                           shrink=min(1.0, 0.9 / rows + 0.3), aspect=25)
        bar.set_label("map (each normalized to [0, 1])", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _columns(explanations, titles):
    """(columns, their titles) from a list or a dict."""
    if isinstance(explanations, dict):
        columns, names = list(explanations.values()), [str(t) for t in explanations]
    else:
        if _is_column(explanations):  # one explanation given alone
            explanations = [explanations]
        columns, names = list(explanations), [_default_title(e, i) for i, e in enumerate(explanations)]
    if titles is not None:
        if len(titles) != len(columns):
            raise ValueError(f"{len(titles)} titles for {len(columns)} explanations: give one per explanation")
        names = [str(t) for t in titles]
    if not columns:
        raise ValueError("no explanations to draw: pass a list of Explanation objects or maps")
    return columns, names


def _is_column(value) -> bool:
    return hasattr(value, "maps") or (isinstance(value, np.ndarray) and value.ndim == 3)


def _maps_of(column):
    if isinstance(column, (BaseException, str)) or column is None:
        return None
    maps = getattr(column, "maps", column)
    if isinstance(maps, list):
        raise ValueError(
            "an explanation of a model with several inputs has one map per input: pass "
            "explanation.for_input(name) (an array of maps) as the column."
        )
    return np.asarray(maps, dtype="float32")


def _default_title(column, index) -> str:
    if isinstance(column, (BaseException, str)) or column is None:
        return f"column {index}"
    method = getattr(column, "method", None)
    if method is None:
        return f"maps {index}"
    layer = getattr(column, "layer", None)
    return f"{method}\n@ {layer.rsplit('/', 1)[-1]}" if layer else str(method)


def class_text(index, score, labels=None) -> str:
    """'tabby (281), score 9.12', or 'class 281, score 9.12' without class names."""
    parts = []
    if index is not None:
        name = None
        if labels is not None:
            try:
                name = labels[int(index)]
            except (KeyError, IndexError, TypeError):
                name = None
        parts.append(f"{name} ({int(index)})" if name else f"class {int(index)}")
    if score is not None and np.isfinite(score):
        parts.append(f"score {float(score):.3g}")
    return ", ".join(parts)


def _draw_column(ax, rgb, column, k, heat, alpha, labels):
    if isinstance(column, (BaseException, str)) or column is None:
        _draw_failed(ax, column)
        return
    maps = _maps_of(column)
    ax.imshow(rgb)
    ax.imshow(np.clip(maps[k], 0, 1), cmap=heat, alpha=alpha, vmin=0, vmax=1)
    targets, scores = getattr(column, "targets", None), getattr(column, "scores", None)
    if scores is not None:
        index = None if targets is None else targets[k]
        ax.set_xlabel(class_text(index, scores[k], labels), fontsize=7)


def _draw_failed(ax, reason):
    ax.set_facecolor("#eeeeee")
    ax.text(0.5, 0.6, "failed", color=FAILED_COLOUR, fontsize=10, fontweight="bold",
            ha="center", va="center", transform=ax.transAxes)
    if reason:
        text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        short = textwrap.shorten(text, width=60, placeholder="…")
        ax.text(0.5, 0.3, textwrap.fill(short, 22), color="#555555", fontsize=5.5,
                ha="center", va="center", transform=ax.transAxes)
