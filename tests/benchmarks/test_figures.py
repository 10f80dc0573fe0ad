"""The report's figures read at a glance (issue 15): checked by what they draw, not by the
PNG being there. Heatmap grids without empty cells (the image, one panel per method @ layer
that has maps, a "failed" panel where a method's maps failed); one figure legend of every
method any panel draws, in the method's colour; the shattering plot's layer names per model;
readable sanity tick labels. A hand-made run folder and table: no model is trained."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from benchmarks.report import figures

SIZE = 16
CLASS_NAMES = ["cat", "dog"]
LABELS = [1, 0]                               # image 0 is a dog, image 1 a cat
VGG_MAPS = [("grad_cam", "shallow"), ("grad_cam", "last"), ("relevance_cam", "last"),
            ("tkv_grad_cam", "last"), ("saliency", "input"), ("gaussian", "input")]
RESNET_MAPS = [("grad_cam", "last")]
NESTED = "ValueError: tf-keras-vis cannot open a nested model"


def _drawn_panels(fig) -> list:
    """The panels of a grid figure (its colour bar left out)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _texts(ax) -> list:
    """The panel's texts, the wrapped ones joined back into one line."""
    return [" ".join(t.get_text().split()) for t in ax.texts]


@pytest.fixture
def run_folder(tmp_path):
    """``maps/`` as the app and `Context.save_figure_maps` write it, and ``images.csv``."""
    rng = np.random.default_rng(0)
    maps = tmp_path / "maps"
    maps.mkdir()
    masks = np.zeros((2, SIZE, SIZE), bool)
    masks[:, 4:12, 3:10] = True
    np.savez_compressed(maps / "images.npz", images=rng.random((2, SIZE, SIZE, 3)).astype(np.float16),
                        masks=masks, image=np.arange(2), labels=np.array(LABELS))
    pd.DataFrame({"image": [0, 1], "id": ["a.png", "b.png"], "label": [CLASS_NAMES[c] for c in LABELS],
                  "second_label": ["", ""], "object_pixels": masks.reshape(2, -1).sum(1)}).to_csv(
        tmp_path / "images.csv", index=False)
    for model, entries in (("vgg_small", VGG_MAPS), ("resnet_small", RESNET_MAPS)):
        (maps / model).mkdir()
        for method, choice in entries:
            np.savez_compressed(maps / model / f"{method}__{choice}.npz",
                                maps=rng.random((2, SIZE, SIZE)).astype(np.float16), image=np.arange(2))
    return tmp_path


def _row(model, method, choice, task="localization", **columns):
    library = "tf-keras-vis" if method.startswith("tkv_") else "baseline" if method == "gaussian" else "tfcam"
    return {"experiment": "t", "task": task, "model": model, "dataset": "d", "method": method, "library": library,
            "layer_choice": choice, "layer": "" if choice == "input" else f"{choice}_conv", "targets": "label",
            **columns}


@pytest.fixture
def results(table):
    rows = [
        # the maps of these failed: a "failed" panel each, with the message
        _row("resnet_small", "tkv_grad_cam", "last", image=0, metric="error", error=NESTED),
        _row("vgg_small", "tkv_saliency", "input", task="faithfulness", image=0, metric="error",
             error="RuntimeError: gradient is None"),
        # not a map's failure: a later batch of a method whose maps are there, a task that
        # makes no maps, a model's own error row (no method)
        _row("vgg_small", "grad_cam", "last", image=8, metric="error", error="MemoryError: batch 2"),
        _row("vgg_small", "layer_cam", "last", task="sanity", image=-1, metric="error", error="boom"),
        _row("vgg_small", "", "", task="model", image=-1, metric="error", error="val accuracy 0.1 < 0.5"),
    ]
    for method in ("grad_cam", "relevance_cam"):  # the same Y in every method's rows
        rows += [_row("vgg_small", method, "last", task="faithfulness", image=i, metric="original_confidence",
                      value=p) for i, p in ((0, 0.93), (1, 0.41))]
    return table(rows)


# ---------------------------------------------------------------- heatmap grids
def _grids(folder, results, **kw) -> dict:
    made = figures.make_heatmap_grids(figures.load_maps(folder), results, **kw)
    return dict(made)


def test_a_heatmap_grid_has_no_empty_panel_and_a_failed_mark_for_each_failure(run_folder, results):
    grids = _grids(run_folder, results)
    assert sorted(grids) == sorted(f"heatmaps_{m}_img{i}.png" for m in ("vgg_small", "resnet_small") for i in (0, 1))
    fig = grids["heatmaps_vgg_small_img0.png"]
    panels = _drawn_panels(fig)
    # the image, one panel per (method, layer) with maps, one per failed (method, layer)
    assert len(panels) == 1 + len(VGG_MAPS) + 1
    for ax in panels:
        assert ax.images or "failed" in _texts(ax), f"empty panel '{ax.get_title()}'"
    titles = [ax.get_title() for ax in panels]
    # tfcam's methods (METHOD_ORDER) and their layers shallow → last, tf-keras-vis', the references
    assert titles[1:] == ["grad_cam\n@ shallow", "grad_cam\n@ last", "relevance_cam\n@ last", "saliency\n@ input",
                          "tkv_grad_cam\n@ last", "tkv_saliency\n@ input", "gaussian\n@ input"]
    failed = panels[titles.index("tkv_saliency\n@ input")]
    assert not failed.images and "RuntimeError: gradient is None" in " ".join(_texts(failed))
    # the image: its class and the model's probability of it; the figure names model and image
    assert titles[0] == "dog\np(dog) = 0.93"
    assert panels[0].images
    assert "vgg_small" in fig._suptitle.get_text() and "image 0" in fig._suptitle.get_text()
    assert _drawn_panels(grids["heatmaps_vgg_small_img1.png"])[0].get_title() == "cat\np(cat) = 0.41"
    # at most 6 panels wide, about square: 8 panels in rows of 3
    assert {ax.get_subplotspec().get_gridspec().ncols for ax in panels} == {3}


def test_a_model_whose_baseline_failed_gets_a_failed_panel_not_a_missing_one(run_folder, results):
    fig = _grids(run_folder, results)["heatmaps_resnet_small_img0.png"]
    panels = _drawn_panels(fig)
    assert [ax.get_title() for ax in panels] == ["dog", "grad_cam\n@ last", "tkv_grad_cam\n@ last"]
    texts = " ".join(_texts(panels[2]))
    assert "failed" in texts and "nested model" in texts
    assert len(panels) == 3  # one row: no empty cell after the last panel


def test_max_methods_caps_the_methods_each_with_its_layers(run_folder, results):
    fig = _grids(run_folder, results, max_methods=2)["heatmaps_vgg_small_img0.png"]
    assert [ax.get_title() for ax in _drawn_panels(fig)][1:] == ["grad_cam\n@ shallow", "grad_cam\n@ last",
                                                                 "relevance_cam\n@ last"]


def test_without_results_the_grid_has_the_class_name_and_no_failed_panel(run_folder):
    fig = _grids(run_folder, None)["heatmaps_vgg_small_img0.png"]
    panels = _drawn_panels(fig)
    assert panels[0].get_title() == "dog" and len(panels) == 1 + len(VGG_MAPS)
    assert all(ax.images for ax in panels)


def test_all_figures_pass_the_results_to_the_grids_and_write_pngs(run_folder, results):
    curves = pd.DataFrame(columns=["task", "model", "method", "library", "layer_choice", "layer", "image",
                                   "curve", "step", "fraction", "value", "unit"])
    out = figures.all_figures(run_folder, results, curves, log=pytest.fail)
    names = sorted(p.name for p in out)
    assert names == sorted(f"heatmaps_{m}_img{i}.png" for m in ("vgg_small", "resnet_small") for i in (0, 1))
    assert all(p.stat().st_size > 1000 for p in out)


# ---------------------------------------------------------------- metric by layer
BY_LAYER = {  # model: {method: {layer choice: value}}
    "resnet_small": {"grad_cam": {"shallow": 0.3, "last": 0.6}, "relevance_cam": {"shallow": 0.4, "last": 0.7},
                     "saliency": {"input": 0.35}, "tkv_saliency": {"input": 0.33}, "gaussian": {"input": 0.2}},
    # the nested view: methods the first panel does not draw
    "resnet_small_nested": {"grad_cam_pp": {"last": 0.5}, "relevance_cam": {"last": 0.7},
                            "tkv_grad_cam": {"last": 0.6}},
}


@pytest.fixture
def by_layer_rows(table):
    def make(task, metric):
        return table([_row(model, method, choice, task=task, image=i, metric=metric, value=v)
                      for model, methods in BY_LAYER.items() for method, values in methods.items()
                      for choice, v in values.items() for i in range(3)])
    return make


@pytest.mark.parametrize("task, metric", [("localization", "energy_pointing_game"),
                                          ("grid_pointing", "grid_localization")])
def test_one_figure_legend_lists_every_method_of_any_panel_in_its_colour(by_layer_rows, task, metric):
    fig = figures.make_metric_by_layer(by_layer_rows(task, metric), task, metric)
    drawn = {method for methods in BY_LAYER.values() for method in methods}
    assert not any(ax.get_legend() for ax in fig.axes), "no panel legend that lists its own methods only"
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == sorted(drawn, key=figures.method_key)
    assert labels[:3] == ["grad_cam", "grad_cam_pp", "relevance_cam"] and labels[-1] == "gaussian"
    for handle, label in zip(legend.legend_handles, labels):
        assert to_hex(handle.get_color()) == to_hex(figures.method_colour(label))
    for ax in fig.axes:
        for line in ax.get_lines():
            assert to_hex(line.get_color()) == to_hex(figures.method_colour(line.get_label()))
    # Relevance-CAM in the nested panel is Relevance-CAM's colour, not Grad-CAM++'s
    nested = next(ax for ax in fig.axes if ax.get_title().startswith("resnet_small_nested"))
    lines = {line.get_label(): line for line in nested.get_lines()}
    assert to_hex(lines["relevance_cam"].get_color()) != to_hex(lines["grad_cam_pp"].get_color())
    # the two saliency libraries are told apart by their line style, as everywhere
    plain = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert plain["saliency"].get_linestyle() == "-" and plain["tkv_saliency"].get_linestyle() == "--"
    assert plain["gaussian"].get_linestyle() == ":"


def test_the_savers_write_the_by_layer_figures(tmp_path, by_layer_rows):
    (path,) = figures.localization_by_layer(tmp_path, by_layer_rows("localization", "energy_pointing_game"))
    assert path.name == "localization_by_layer.png" and path.stat().st_size > 1000


# ---------------------------------------------------------------- shattered gradients
LAYERS = {"vgg_small": ["block1_conv1", "block2_conv1", "block3_conv2"],
          "resnet_small": ["stem_relu", "stage1_add", "stage2_add", "stage3_add", "stage4_add"]}


@pytest.fixture
def shattering(table):
    rows = []
    for model, layers in LAYERS.items():
        for k, layer in enumerate(layers):
            for stat in ("autocorrelation", "sign_coherence", "sign_coherence_noise_floor"):
                rows += [{**_row(model, "", "", task="shattered_gradients"), "layer": layer, "image": i,
                          "metric": stat, "value": 1.0 / (k + 1 + i)} for i in range(3)]
    return table(rows)


def test_each_model_has_its_own_panels_with_its_own_layer_names(shattering):
    fig = figures.make_shattering_plot(shattering)
    panels = {ax.get_title(): ax for ax in fig.axes}
    assert sorted(panels) == sorted(f"{m}: {s}" for m in LAYERS for s in ("autocorrelation", "sign coherence"))
    for title, ax in panels.items():
        model = title.split(":")[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS[model]
        assert all(t.get_fontsize() >= 7 for t in ax.get_xticklabels())
        (curve,) = ax.containers  # the errorbar of this model alone
        assert curve.get_label() == model and len(curve.lines[0].get_xdata()) == len(LAYERS[model])


def test_the_shattering_saver_writes_one_png(tmp_path, shattering):
    (path,) = figures.shattering_plot(tmp_path, shattering)
    assert path.name == "shattered_gradients.png" and path.stat().st_size > 1000


# ---------------------------------------------------------------- sanity
SANITY_LAYERS = [f"block{b}_conv{c}" for b in range(5, 0, -1) for c in (3, 2, 1)]  # 15 steps, output → input


@pytest.fixture
def sanity(table):
    rows = []
    for method, choice in (("grad_cam", "last"), ("relevance_cam", "last"), ("tkv_grad_cam", "last"),
                           ("saliency", "input")):
        for step, layer in enumerate(SANITY_LAYERS, start=1):
            for metric in ("spearman_abs", "spearman", "ssim"):
                rows += [_row("vgg_small", method, choice, task="sanity", image=i, metric=metric,
                              value=1.0 / step, mode="cascading", step=step, randomized_layer=layer)
                         for i in range(2)]
    return table(rows)


def test_sanity_layer_names_are_readable_and_lines_wear_their_method_colour(sanity):
    ((name, fig),) = figures.make_sanity_curves(sanity)
    assert name == "sanity_vgg_small.png"
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 3
    for ax in panels:
        ticks = ax.get_xticklabels()
        assert [t.get_text() for t in ticks] == SANITY_LAYERS
        assert min(t.get_fontsize() for t in ticks) >= 7
        for line in ax.get_lines():
            method = line.get_label().split(" @ ")[0]
            assert to_hex(line.get_color()) == to_hex(figures.method_colour(method))
    # the figure widens with the layers: room for each name at 7 pt
    width = fig.get_size_inches()[0] / len(panels)
    assert width / len(SANITY_LAYERS) >= 0.2
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["grad_cam @ last", "relevance_cam @ last",
                                                          "saliency @ input", "tkv_grad_cam @ last"]


def test_the_sanity_saver_writes_one_png(tmp_path, sanity):
    (path,) = figures.sanity_curves(tmp_path, sanity)
    assert path.name == "sanity_vgg_small.png" and path.stat().st_size > 1000
