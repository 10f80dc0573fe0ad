"""Loc(δ) over δ (Chattopadhyay et al., 2018, Grad-CAM++): the localization task writes one
row per image and δ with the δ in its ``delta`` column; the report's table shows Loc at each
paper's δ without averaging over δ, and ``loc_delta_curve.png`` draws one line per method in
that method's colour. Stand-ins and synthetic tables only: no model is trained."""
import importlib
import types

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from benchmarks import api
from benchmarks.report import common, figures, findings, sections
from benchmarks.results import ResultStore, read_table
from benchmarks.tasks import RESULT_COLUMNS, localization
from tests.benchmarks.conftest import compose

DELTAS = [0.0, 0.5, 0.9]


# ---------------------------------------------------------------- 1. the task's rows
def _fake_run(masks, settings):
    settings = localization.Settings(**settings)  # the task's defaults, these changed
    n = len(masks)
    data = types.SimpleNamespace(masks=masks, image_size=masks.shape[1:], second_labels=-np.ones(n, int),
                                 second_masks=np.zeros_like(masks))
    return types.SimpleNamespace(settings=lambda name: settings, data=data, class_labels=False)


def _evaluate(maps, masks, settings):
    idx = np.arange(len(maps))
    base = {"experiment": "t", "task": "localization", "model": "m", "method": "grad_cam", "library": "tfcam",
            "layer_choice": "last", "layer": "conv"}
    unit = types.SimpleNamespace(inputs=("maps",), payload=(None, "last", "conv", idx), row=base)
    value = types.SimpleNamespace(maps=maps, take_seconds=lambda: None)
    stand_in = types.SimpleNamespace(explain=None, metrics=importlib.import_module("tfcam.metrics"))
    with api.use(stand_in):
        return localization.evaluate(_fake_run(masks, settings), unit, {"maps": value}).rows


@pytest.fixture
def maps_and_masks():
    rng = np.random.default_rng(0)
    maps = rng.random((4, 8, 8))
    masks = np.zeros((4, 8, 8), bool)
    masks[:, 2:6, 1:5] = True
    return maps, masks


def test_the_task_writes_one_loc_row_per_image_and_delta_with_the_delta_column_filled(tmp_path, maps_and_masks):
    maps, masks = maps_and_masks
    rows = _evaluate(maps, masks, {"loc_delta": DELTAS, "class_sensitivity": False})
    loc = [r for r in rows if r["metric"] == "loc_delta"]
    assert sorted((r["image"], r["delta"]) for r in loc) == [(i, d) for i in range(4) for d in DELTAS]
    from tfcam import metrics
    for d in DELTAS:
        want = metrics.loc_delta(maps, masks, delta=d).values
        np.testing.assert_allclose([r["value"] for r in loc if r["delta"] == d], want)
    # through the store: the typed column is filled on Loc rows and empty on the others
    store = ResultStore(tmp_path, columns=list(RESULT_COLUMNS), log=lambda *a: None)
    store.write("u0", rows)
    table = read_table(tmp_path / "results.csv", RESULT_COLUMNS)
    is_loc = table.metric == "loc_delta"
    assert sorted(pd.to_numeric(table.delta[is_loc]).unique()) == DELTAS
    assert table.delta[~is_loc].isna().all() and (~is_loc).sum() == 3 * 4  # iou, two pointing games


def test_one_number_is_one_delta_and_the_default_is_the_grid_0_to_0_9(maps_and_masks):
    maps, masks = maps_and_masks
    rows = _evaluate(maps, masks, {"loc_delta": 0.5, "class_sensitivity": False})
    assert {r["delta"] for r in rows if r["metric"] == "loc_delta"} == {0.5}
    grid = [round(0.1 * k, 1) for k in range(10)]
    assert localization.loc_deltas(localization.Settings()) == grid
    assert localization.loc_deltas(compose([]).metrics.localization) == grid


# ---------------------------------------------------------------- 2. the report's table
def _loc_rows(model, method, library, choice, by_delta, n=4, metric_rows=True):
    """``by_delta``: {δ: value} for every image; plus an IoU row per image."""
    base = {"experiment": "t", "task": "localization", "model": model, "method": method, "library": library,
            "layer_choice": choice, "layer": "" if choice == "input" else f"{choice}_conv"}
    rows = [{**base, "image": i, "metric": "iou", "value": 0.25} for i in range(n)] if metric_rows else []
    return rows + [{**base, "image": i, "metric": "loc_delta", "delta": d, "value": v}
                   for i in range(n) for d, v in by_delta.items()]


def _md_column(md: str, header: str) -> list:
    """The cells under ``header`` in the markdown table that has it."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append([c.strip() for c in line.strip("|").split("|")])
        elif current:
            tables, current = tables + [current], []
    (cells,) = [t for t in tables if header in t[0]]
    at = cells[0].index(header)
    return [row[at] for row in cells[2:]]


def test_the_table_shows_loc_at_the_papers_delta_only(table):
    curve = {0.0: 0.1, 0.1: 0.2, 0.5: 0.7, 0.9: 0.05}
    text = "".join(sections.localization(table(_loc_rows("m", "grad_cam", "tfcam", "last", curve))))
    header = "Loc(δ=0.5) [Grad-CAM++] ↑"
    assert common.PAPER_DELTAS["Grad-CAM++"] == 0.5
    # the value at δ = 0.5 alone; the mean over every δ (0.2625) would be the old bug
    assert _md_column(text, header) == ["0.700 ± 0.000"]
    assert "loc_delta ↑" not in text
    # the per-δ table keeps every δ apart
    assert _md_column(text, "δ=0") == ["0.100"] and _md_column(text, "δ=0.9") == ["0.050"]


def test_a_run_without_the_papers_delta_leaves_its_column_empty(table):
    text = "".join(sections.localization(table(_loc_rows("m", "grad_cam", "tfcam", "last", {0.0: 0.3, 0.9: 0.1}))))
    assert _md_column(text, "Loc(δ=0.5) [Grad-CAM++] ↑") == ["–"]


def test_papers_sharing_a_delta_share_its_column(monkeypatch, table):
    monkeypatch.setattr(common, "PAPER_DELTAS", {"Grad-CAM++": 0.5, "Other": 0.5, "Third": 0.9})
    assert common.loc_delta_labels() == {0.5: "Loc(δ=0.5) [Grad-CAM++, Other]", 0.9: "Loc(δ=0.9) [Third]"}
    view = common.at_paper_deltas(table(_loc_rows("m", "grad_cam", "tfcam", "last", {0.0: 0.3, 0.5: 0.6, 0.9: 0.1})))
    loc = view[view.metric.str.startswith("Loc")]
    assert dict(loc.groupby("metric").value.mean()) == {"Loc(δ=0.5) [Grad-CAM++, Other]": 0.6,
                                                          "Loc(δ=0.9) [Third]": 0.1}


def test_the_view_finding_compares_loc_delta_at_each_delta_apart(table):
    curve = {0.0: 0.1, 0.5: 0.7, 0.9: 0.05}
    rows = (_loc_rows("resnet_small", "grad_cam", "tfcam", "last", curve)
            + _loc_rows("resnet_small_nested", "grad_cam", "tfcam", "last", curve))
    text = "\n".join(findings.view_findings(table(rows)))
    # 4 images × (IoU + 3 δ) = 16 values, each matched with its own δ
    assert "largest difference 0 over 16 values" in text


# ---------------------------------------------------------------- 3. the figure
@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Keep each figure instead of closing it, to read what it draws."""
    kept = []

    def save(fig, path):
        kept.append(fig)
        return path
    monkeypatch.setattr(figures, "_save", save)
    return kept


CURVES = {"grad_cam": {0.0: 0.2, 0.5: 0.6, 0.9: 0.3}, "relevance_cam": {0.0: 0.2, 0.5: 0.8, 0.9: 0.5},
          "tkv_grad_cam": {0.0: 0.2, 0.5: 0.55, 0.9: 0.25}, "gaussian": {0.0: 0.2, 0.5: 0.3, 0.9: 0.0}}
LIBRARY = {"grad_cam": "tfcam", "relevance_cam": "tfcam", "tkv_grad_cam": "tf-keras-vis", "gaussian": "baseline"}


def _figure_rows():
    rows = []
    for model in ("vgg_small", "resnet_small"):
        for method, curve in CURVES.items():
            choices = ["input"] if method == "gaussian" else ["shallow", "last"]
            for choice in choices:
                rows += _loc_rows(model, method, LIBRARY[method], choice, curve, metric_rows=False)
    return rows


def test_the_figure_draws_one_line_per_method_in_its_colour(tmp_path, table, drawn):
    out = figures.loc_delta_curve(tmp_path, table(_figure_rows()))
    assert [p.name for p in out] == ["loc_delta_curve.png"]
    (fig,) = drawn
    axes = [ax for ax in fig.axes if ax.get_title()]
    # one panel per model × layer choice; the Gaussian (input space) is drawn in each
    assert sorted(ax.get_title() for ax in axes) == sorted(
        f"{m} @ {c}" for m in ("vgg_small", "resnet_small") for c in ("shallow", "last"))
    for ax in axes:
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert sorted(lines) == sorted(CURVES)
        assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == sorted(CURVES)
        for method, line in lines.items():
            assert to_hex(line.get_color()) == to_hex(figures.method_colour(method))
            np.testing.assert_allclose(line.get_xdata(), sorted(CURVES[method]))
            np.testing.assert_allclose(line.get_ydata(), [CURVES[method][d] for d in sorted(CURVES[method])])
        assert lines["tkv_grad_cam"].get_linestyle() == "--" and lines["gaussian"].get_linestyle() == ":"
        assert lines["grad_cam"].get_linestyle() == "-"


def test_a_model_without_a_layer_choice_gets_no_empty_panel(tmp_path, table, drawn):
    # the smoke run's nested model ran at the last layer only: before, its shallow panel was
    # drawn empty (or with the input-space methods alone)
    rows = [r for r in _figure_rows() if not (r["model"] == "resnet_small" and r["layer_choice"] == "shallow")]
    figures.loc_delta_curve(tmp_path, table(rows))
    (fig,) = drawn
    shown = sorted(ax.get_title() for ax in fig.axes if ax.get_visible())
    assert shown == ["resnet_small @ last", "vgg_small @ last", "vgg_small @ shallow"]


def test_a_method_has_the_same_colour_in_every_figure(tmp_path, table, drawn):
    # distinct colours for distinct methods; a tf-keras-vis method wears its counterpart's
    colours = {m: figures.method_colour(m) for m in ("grad_cam", "relevance_cam", "gaussian", "score_cam")}
    assert len(set(colours.values())) == 4
    assert figures.method_colour("tkv_grad_cam") == colours["grad_cam"]
    assert figures.method_colour("no_such_method") == figures.method_colour("no_such_method")
    rows = [{**r, "metric": "energy_pointing_game", "delta": ""} for r in _figure_rows()]
    figures.localization_by_layer(tmp_path, table(rows))
    figures.loc_delta_curve(tmp_path, table(_figure_rows()))
    by_layer, curve = drawn
    for fig in (by_layer, curve):
        for ax in fig.axes:
            for line in ax.get_lines():
                if line.get_label() in CURVES:
                    assert to_hex(line.get_color()) == to_hex(figures.method_colour(line.get_label()))


def test_all_figures_include_the_loc_curve_and_skip_it_without_loc_rows(tmp_path, table):
    curves = pd.DataFrame(columns=["task", "model", "method", "library", "layer_choice", "layer", "image",
                                   "curve", "step", "fraction", "value", "unit"])
    out = figures.all_figures(tmp_path, table(_figure_rows()), curves, log=pytest.fail)
    assert "loc_delta_curve.png" in [p.name for p in out]
    none = [{**r, "metric": "iou", "delta": ""} for r in _figure_rows()]
    assert figures.loc_delta_curve(tmp_path, table(none)) == []
