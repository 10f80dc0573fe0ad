"""What every figure of a run shares: one colour, line style and legend place per method,
the layer choices' order and markers, readable tick labels, one legend per figure."""
from __future__ import annotations

import math
import zlib

from ..report.common import LAYER_ORDER

DPI = 90
LABEL_FONTSIZE = 7      # points: tick labels and legends, readable at DPI
LAYER_MARKERS = {"shallow": "s", "mid": "^", "middle": "^", "last": "o", "input": "D"}

# One colour per method, the same in every figure and every run: the CAM methods first on
# matplotlib's tab10, the others on tab20b; a tf-keras-vis method takes its tfcam
# counterpart's colour (drawn dashed), the reference maps are greys (dotted).
TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf"]
TAB20B = ["#393b79", "#5254a3", "#6b6ecf", "#9c9ede", "#637939", "#8ca252", "#b5cf6b", "#cedb9c",
          "#8c6d31", "#bd9e39", "#e7ba52", "#e7cb94", "#843c39", "#ad494a", "#d6616b", "#e7969c",
          "#7b4173", "#a55194", "#ce6dbd", "#de9ed6"]
METHOD_ORDER = ("grad_cam", "grad_cam_pp", "relevance_cam", "score_cam", "layer_cam", "xgrad_cam",
                "ablation_cam", "eigen_cam", "cam", "lrp", "relevance_cam_zero_sum", "score_cam_fast",
                "score_cam_fast_std", "saliency", "smooth_grad", "integrated_gradients", "input_x_gradient",
                "guided_backprop", "guided_grad_cam", "deconvnet", "occlusion")
PALETTE = [c for c in TAB10 if c != "#7f7f7f"] + TAB20B  # grey is the reference maps'
REFERENCE_COLOURS = {"gaussian": "#4d4d4d", "random": "#a6a6a6"}


def method_colour(method: str) -> str:
    """The method's colour (hex); an unknown method gets a fixed one from its name."""
    base = method.removeprefix("tkv_")
    if base in REFERENCE_COLOURS:
        return REFERENCE_COLOURS[base]
    if base in METHOD_ORDER:
        return PALETTE[METHOD_ORDER.index(base)]
    return PALETTE[zlib.crc32(base.encode()) % len(PALETTE)]


def method_style(method: str, library: str = "") -> str:
    """Line style: dashed for tf-keras-vis, dotted for the reference maps, solid for tfcam."""
    if library == "tf-keras-vis" or method.startswith("tkv_"):
        return "--"
    return ":" if library == "baseline" or method in REFERENCE_COLOURS else "-"


def method_key(method: str) -> tuple:
    """Where a method goes in every figure's panels and legends: tfcam's methods first (in
    `METHOD_ORDER`), then tf-keras-vis' (``tkv_*``), the reference maps last."""
    base = method.removeprefix("tkv_")
    group = 2 if base in REFERENCE_COLOURS else 1 if method.startswith("tkv_") else 0
    return group, METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), method


def layer_key(choice: str) -> float:
    """Layer choices shallow → mid → last → input."""
    return LAYER_ORDER.get(choice, 1.5)


def new_figure(width: float, height: float):
    """A Figure made without pyplot: no global state, nothing to close."""
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))




def short_layer(layer) -> str:
    """A layer's name without its nested models' path (``backbone/conv5`` → ``conv5``)."""
    return str(layer).rsplit("/", 1)[-1]


def layer_ticks(ax, positions, labels, max_labels: int = 48) -> None:
    """Layer names under ``positions``, readable (`LABEL_FONTSIZE`, 60°); past ``max_labels``
    one in every few is shown."""
    ax.set_xticks(list(positions))
    ax.set_xticklabels([short_layer(t) for t in labels], rotation=60, ha="right", rotation_mode="anchor",
                       fontsize=LABEL_FONTSIZE)
    every = math.ceil(len(labels) / max_labels) if len(labels) > max_labels else 1
    for i, text in enumerate(ax.get_xticklabels()):
        text.set_visible(i % every == 0)
    ax.tick_params(axis="y", labelsize=LABEL_FONTSIZE)


def figure_legend(fig, axes, key=method_key, title: str | None = None):
    """One legend for the whole figure: every labelled line of any panel once, in ``key``
    order, right of the panels (``bbox_inches="tight"`` keeps it in the PNG)."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if not label.startswith("_"):
                handles.setdefault(label, handle)
    if not handles:
        return None
    labels = sorted(handles, key=key)
    return fig.legend([handles[k] for k in labels], labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
                      fontsize=LABEL_FONTSIZE, title=title, title_fontsize=LABEL_FONTSIZE + 1, frameon=False)
