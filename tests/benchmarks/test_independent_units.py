"""Paired tests over independent units (issue 26 §4). The grid pointing game's cells repeat
photos (8 grids of 8 photos: each photo fills several cells), so a Wilcoxon test over the
cells counts one photo several times. Every value row carries its unit (``source``: the
photo of a grid cell, the image's id elsewhere); the report averages the paired differences
per unit before the test and prints the number of units beside every p. Synthetic tables
and stand-ins only: no model is built."""
import importlib
import types

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from benchmarks import api
from benchmarks.data import grid
from benchmarks.data.dataset import Dataset
from benchmarks.report import findings, stats
from benchmarks.results import ResultStore, read_table
from benchmarks.tasks import RESULT_COLUMNS, localization
from benchmarks.tasks import grid_pointing as gp

# Per-photo mean of Grad-CAM's shallow − last difference: known by construction. Seven
# photos degrade, one improves a little, so the per-photo test's p is not the floor 2/2⁸.
PHOTO_MEANS = np.array([-0.30, -0.22, -0.18, -0.12, -0.26, 0.04, -0.34, -0.08])
# Each photo's four cells scatter around its mean by these offsets (summing to 0).
OFFSETS = np.array([0.03, -0.03, 0.06, -0.06])


def _photo_grids():
    """8 grids × 4 cells from 8 photos, each photo in exactly 4 cells (of 4 grids):
    grid g holds photos g, g+2, g+4, g+6 (mod 8)."""
    return np.array([[(g + 2 * k) % 8 for k in range(4)] for g in range(8)])


def _grid_rows(with_source=True):
    """Grid pointing rows of Grad-CAM and Relevance-CAM at the shallow and last layer; Grad-CAM's
    shallow − last difference in a cell is its photo's mean plus that photo's next offset.
    Returns (rows, the 32 cell differences in row order)."""
    rng = np.random.default_rng(0)
    photos = _photo_grids()
    seen = np.zeros(8, int)
    rows, diffs = [], []
    for g in range(8):
        for k in range(4):
            p = photos[g, k]
            diff = PHOTO_MEANS[p] + OFFSETS[seen[p]]
            seen[p] += 1
            diffs.append(diff)
            last = 0.7 + rng.normal(0, 0.01)
            values = {("grad_cam", "last"): last, ("grad_cam", "shallow"): last + diff,
                      ("relevance_cam", "last"): last + 0.05,
                      ("relevance_cam", "shallow"): last + 0.05 + 0.5 * diff + rng.normal(0, 0.01)}
            for (method, choice), v in values.items():
                row = {"task": "grid_pointing", "model": "net", "method": method, "library": "tfcam",
                       "layer_choice": choice, "layer": f"{choice}_conv", "image": g, "cell": k,
                       "metric": "grid_localization", "value": float(v), "error": ""}
                if with_source:
                    row["source"] = f"photo{p}"
                rows.append(row)
    assert (seen == 4).all()
    return rows, np.array(diffs)


# ---------------------------------------------------------------- 1. the test's unit
def test_grid_cells_are_tested_over_their_photos(table):
    rows, diffs = _grid_rows()
    results = table(rows)
    # by hand: one mean per photo, then the signed-rank test on the 8 means
    photos = _photo_grids().ravel()
    per_photo = np.array([diffs[photos == p].mean() for p in range(8)])
    np.testing.assert_allclose(per_photo, PHOTO_MEANS)
    want_p = wilcoxon(per_photo).pvalue
    cells_p = wilcoxon(diffs).pvalue           # the pseudo-replicated test over 32 cells
    assert want_p == pytest.approx(0.015625) and cells_p < 1e-4

    shallow = stats.per_image(results, "net", "grad_cam", "shallow", "grid_localization")
    last = stats.per_image(results, "net", "grad_cam", "last", "grid_localization")
    r = stats.paired(shallow, last)
    assert r.n == 8 and r.pairs == 32
    assert r.p == pytest.approx(want_p, rel=1e-12)
    assert r.p != pytest.approx(cells_p)
    assert r.d == pytest.approx(diffs.mean())
    d, p, n = r                                   # still unpacks as (d, p, n)
    assert n == 8

    (line,) = findings.grid_findings(results)
    assert f"p={want_p:.2g}, n=8 photos" in line
    assert "32 grid cells" in line                  # how many values were averaged per photo
    assert f"p={cells_p:.2g}" not in line


def test_cells_without_a_recorded_photo_are_pooled_per_grid(table):
    """An older table (no ``source`` column): the cells of one grid are not independent either,
    so the grid is the unit, never the cell."""
    rows, diffs = _grid_rows(with_source=False)
    results = table(rows)
    per_grid = diffs.reshape(8, 4).mean(1)
    r = stats.paired(stats.per_image(results, "net", "grad_cam", "shallow", "grid_localization"),
                     stats.per_image(results, "net", "grad_cam", "last", "grid_localization"))
    assert r.n == 8 and r.pairs == 32 and r.p == pytest.approx(wilcoxon(per_grid).pvalue, rel=1e-12)
    (line,) = findings.grid_findings(results)
    assert "n=8 grids" in line and "32 grid cells" in line


def test_a_task_without_repeated_images_reports_n_images(table):
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.6, 0.1, 10), rng.normal(0.5, 0.1, 10)
    want = wilcoxon(a - b).pvalue
    for with_source in (True, False):   # the task's rows, and an older table without the column
        rows = []
        for method, choice, values in (("grad_cam", "last", a), ("gaussian", "input", b)):
            for i, v in enumerate(values):
                row = {"task": "localization", "model": "m", "method": method, "library": "tfcam",
                       "layer_choice": choice, "layer": "conv", "image": i, "metric": "iou", "value": float(v),
                       "error": ""}
                if with_source:
                    row["source"] = str(i)
                rows.append(row)
        results = table(rows)
        r = stats.paired(stats.per_image(results, "m", "grad_cam", "last", "iou"),
                         stats.per_image(results, "m", "gaussian", "input", "iou"))
        assert (r.n, r.pairs) == (10, 10) and r.p == pytest.approx(want, rel=1e-12)
        text = "\n".join(findings.localization_findings(results))
        assert f"p={want:.2g}, n=10 images" in text
        assert "averaged" not in text


def test_a_p_at_the_floor_of_its_n_says_so():
    """With 8 units the smallest two-sided exact p is 2/2⁸ = 0.0078: a p there is the most a
    test on 8 units can say, not a measure of a large effect."""
    idx = pd.MultiIndex.from_arrays([[f"p{i}" for i in range(8)], range(8)], names=["unit", "image"])
    r = stats.paired(pd.Series(np.arange(1.0, 9.0), idx), pd.Series(np.zeros(8), idx))
    assert r.p == pytest.approx(2 / 2 ** 8)
    text = stats.describe(r)
    assert text.startswith("Wilcoxon p=0.0078, n=8 ") and "smallest p" in text
    # only 4 of 8 units differ: as few as 4 images, whatever the n
    r = stats.paired(pd.Series([1.0, 2, 3, 4, 0, 0, 0, 0], idx), pd.Series(np.zeros(8), idx))
    assert not stats.significant_result(r)
    assert "too few" in stats.describe(r) and "p=" not in stats.describe(r)


def test_separability_counts_the_explained_photos(table):
    """Faithfulness on grids explains one photo's class per grid; grids that explain the same
    photo are one unit: 8 grids, 6 photos."""
    rng = np.random.default_rng(5)
    explained = ["a", "b", "a", "c", "d", "b", "e", "f"]
    rows = []
    for method, choice in (("grad_cam", "last"), ("relevance_cam", "last"), ("layer_cam", "last"),
                           ("saliency", "input")):
        for g, photo in enumerate(explained):
            rows.append({"task": "faithfulness", "model": "m", "method": method, "library": "tfcam",
                         "layer_choice": choice, "layer": "conv", "image": g, "metric": "deletion",
                         "value": float(0.3 + (g % 3) * 0.2 + rng.normal(0, 0.1)), "error": "",
                         "source": photo})
    lines = [ln for ln in findings.separability_findings(table(rows)) if "deletion" in ln]
    assert len(lines) == 1 and "cannot separate" in lines[0] and "from the best" in lines[0]
    assert "n=6 photos" in lines[0] and "8 images" in lines[0]


# ---------------------------------------------------------------- 2. the rows carry their unit
def _flat_photos(n=6, side=8):
    photos = {f"p{i}": np.full((side, side, 3), (i + 1) / (n + 1), np.float32) for i in range(n)}
    kept = [grid.Photo(f"p{i}", i, 0.9) for i in range(n)]
    return photos, kept


def test_the_grid_pointing_task_records_each_cells_photo():
    photos, kept = _flat_photos()
    data = grid.make_grids(photos, kept, image_size=16, n_grids=6, seed=0, num_classes=6)
    maps = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    run = types.SimpleNamespace(
        data=data, log=lambda *a: None, settings=lambda name: gp.Settings(energy="maps"),
        plan=lambda name: [(types.SimpleNamespace(id="m", library="tfcam"), "last", "conv")],
        batches=lambda index: [index[:4], index[4:]], unit=lambda *parts: "|".join(map(str, parts)),
        base_row=lambda task, m, choice, layer: {"task": task, "method": m.id, "layer_choice": choice},
        explainer=lambda m, layer: None, explain=lambda m, layer, idx, targets=None: maps[idx])
    rows = [r for u in gp.units(run) for r in gp.evaluate(run, u, {}).rows]
    assert len(rows) == 6 * 4 * 2
    for r in rows:
        assert r["source"] == data.cell_photos[r["image"], r["cell"]]
    # the photos repeat across grids: fewer units than cells
    assert len({r["source"] for r in rows}) == 6 < len({(r["image"], r["cell"]) for r in rows}) == 24


def test_sources_are_the_explained_photo_on_grids_and_the_id_elsewhere():
    photos, kept = _flat_photos()
    data = grid.make_grids(photos, kept, image_size=16, n_grids=4, seed=1, num_classes=6)
    idx = np.arange(4)
    # the class of cell 2 of each grid: its photo; a class in no cell: the grid's id
    assert gp.sources(data, idx, data.cell_labels[:, 2]) == list(data.cell_photos[:, 2])
    missing = np.array([99, *data.cell_labels[1:, 0]])
    assert gp.sources(data, idx, missing) == [str(data.ids[0]), *data.cell_photos[1:, 0]]
    plain = Dataset(images=np.zeros((3, 4, 4, 3), np.float32), labels=np.zeros(3, int),
                    masks=np.zeros((3, 4, 4), bool), boxes=np.zeros((3, 4), int), class_names=["x"],
                    ids=np.array(["cat", "dog", "owl"]))
    assert gp.sources(plain, np.array([2, 0]), np.zeros(2, int)) == ["owl", "cat"]


def test_localization_rows_carry_the_image_id(tmp_path):
    n = 4
    masks = np.zeros((n, 8, 8), bool)
    masks[:, 2:6, 2:6] = True
    data = types.SimpleNamespace(masks=masks, image_size=(8, 8), second_labels=-np.ones(n, int),
                                 second_masks=np.zeros_like(masks), ids=np.array(["w", "x", "y", "z"]))
    run = types.SimpleNamespace(settings=lambda name: localization.Settings(loc_delta=[0.5], class_sensitivity=False),
                                data=data, class_labels=False, targets=np.zeros(n, int))
    idx = np.arange(n)
    unit = types.SimpleNamespace(inputs=("maps",), payload=(None, "last", "conv", idx),
                                 row={"task": "localization", "model": "m", "method": "grad_cam",
                                      "library": "tfcam", "layer_choice": "last", "layer": "conv"})
    value = types.SimpleNamespace(maps=np.random.default_rng(0).random((n, 8, 8)), take_seconds=lambda: None)
    with api.use(types.SimpleNamespace(explain=None, metrics=importlib.import_module("tfcam.metrics"))):
        rows = localization.evaluate(run, unit, {"maps": value}).rows
    assert rows and all(r["source"] == "wxyz"[r["image"]] for r in rows)
    # through the store: the column survives a write and a read
    assert "source" in RESULT_COLUMNS
    store = ResultStore(tmp_path, columns=list(RESULT_COLUMNS), log=lambda *a: None)
    store.write("u0", rows)
    t = read_table(tmp_path / "results.csv", RESULT_COLUMNS)
    assert sorted(set(t.source)) == ["w", "x", "y", "z"]
