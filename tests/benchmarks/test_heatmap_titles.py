"""A heatmap grid names the class its maps explain (issue 27): on the grid pointing game's
grids the model is explained for its top-1 class, while the image's label is only cell 0's
class; the title named the label. The maps' files record the class (``targets``), and an
ImageNet model's classes have ImageNet's names."""
import numpy as np
import pandas as pd
import pytest

from benchmarks.report import figures

SIZE = 16
MODEL = "efficientnet_lite0"
CELL0, TOP1 = 872, 285          # tripod in cell 0; the model's top-1: Egyptian cat


def run_folder(tmp_path, targets=(TOP1,)):
    """A grid as the app saves it: its label is cell 0's class; the model's maps explain
    ``targets`` (None: a run from before the maps recorded their class)."""
    maps = tmp_path / "maps"
    (maps / MODEL).mkdir(parents=True)
    masks = np.zeros((1, SIZE, SIZE), bool)
    masks[:, :8, :8] = True     # cell 0
    np.savez_compressed(maps / "images.npz", images=np.full((1, SIZE, SIZE, 3), 0.5, np.float16),
                        masks=masks, image=np.arange(1), labels=np.array([CELL0]))
    pd.DataFrame({"image": [0], "id": ["coffee+chelsea+rocket+clock"], "label": ["tripod"], "second_label": [""],
                  "object_pixels": [64]}).to_csv(tmp_path / "images.csv", index=False)
    saved = {"maps": np.random.default_rng(0).random((1, SIZE, SIZE)).astype(np.float16), "image": np.arange(1)}
    if targets is not None:
        saved["targets"] = np.array(targets)
    np.savez_compressed(maps / MODEL / "grad_cam__last.npz", **saved)
    return tmp_path


@pytest.fixture
def predicted(table):
    """An ImageNet model explained for its top-1 class, with the probability of that class."""
    base = {"experiment": "grid", "model": MODEL, "dataset": "grid", "layer_choice": "", "layer": "",
            "targets": "predicted"}
    return table([{**base, "task": "model", "method": "", "library": "", "image": -1, "metric": "val_accuracy",
                   "weights": "imagenet"},
                  {**base, "task": "faithfulness", "method": "grad_cam", "library": "tfcam", "layer_choice": "last",
                   "image": 0, "metric": "original_confidence", "value": 0.53}])


def _figure(folder, results):
    (fig,) = [f for _, f in figures.make_heatmap_grids(figures.load_maps(folder), results)]
    image_panel = next(ax for ax in fig.axes if ax.get_label() != "<colorbar>")
    return image_panel.get_title(), fig._suptitle.get_text()


def test_the_title_names_the_explained_class_not_cell_0s_label(tmp_path, predicted):
    title, suptitle = _figure(run_folder(tmp_path), predicted)
    assert title == "top-1: Egyptian cat (285)\np = 0.53"
    assert "white: the region of the label, tripod" in suptitle  # the outline is cell 0's


def test_a_top1_that_is_the_label_is_outlined_as_ground_truth(tmp_path, predicted):
    title, suptitle = _figure(run_folder(tmp_path, targets=(CELL0,)), predicted)
    assert title == "top-1: tripod (872)\np = 0.53" and "white: ground truth" in suptitle


def test_without_imagenet_weights_or_a_recorded_class_the_title_says_so(tmp_path, predicted):
    not_imagenet = predicted.assign(weights=predicted.weights.replace("imagenet", "trained"))
    assert _figure(run_folder(tmp_path / "a"), not_imagenet)[0] == "top-1: class 285\np = 0.53"
    # a run from before the maps recorded their class: no class is made up
    assert _figure(run_folder(tmp_path / "b", targets=None), predicted)[0] == "top-1: class not recorded\np = 0.53"


def test_the_maps_files_record_the_class_each_map_explains(tmp_path):
    from types import SimpleNamespace

    from benchmarks.context import Context
    ctx = Context(cfg={"report": {"n_images": 2}}, out=tmp_path, store=None, data=None,
                  model_cfg=SimpleNamespace(name=MODEL), model=None, info=None, targets=np.array([5, 7, 9]),
                  predicted=np.array([5, 7, 9]), class_labels=False, experiment="grid")
    ctx.save_figure_maps(SimpleNamespace(id="grad_cam"), "last", np.array([1, 2]), np.zeros((2, 4, 4)))
    saved = np.load(tmp_path / "maps" / MODEL / "grad_cam__last.npz")
    assert saved["image"].tolist() == [1] and saved["targets"].tolist() == [7]  # image 2 is not drawn


def test_grids_of_an_imagenet_model_have_imagenet_class_names():
    from benchmarks.data import grid
    assert grid.class_names(1000)[TOP1] == "Egyptian cat" and grid.class_names(1000)[CELL0] == "tripod"
    assert grid.class_names(3) == ["class_0", "class_1", "class_2"]
