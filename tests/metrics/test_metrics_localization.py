"""Localization metrics on 4x4 and small hand-made cases, edge cases and chance levels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tfcam import metrics

# 4x4 map with an object in the top-left 2x2 block
MAP = np.array(
    [
        [1.0, 0.8, 0.1, 0.0],
        [0.6, 0.4, 0.0, 0.0],
        [0.0, 0.0, 0.2, 0.0],
        [0.0, 0.0, 0.0, 0.3],
    ]
)[None]
GT = np.zeros((1, 4, 4), bool)
GT[0, :2, :2] = True


def test_boxes_to_masks_border_and_single_pixel():
    m = metrics.boxes_to_masks(np.array([[2, 2, 4, 4], [1, 3, 2, 4], [-3, -1, 1.5, 0.2]]), (4, 4))
    assert m[0].sum() == 4 and m[0, 2:, 2:].all()  # box touching the bottom-right border
    assert m[1].sum() == 1 and m[1, 3, 1]  # single pixel at row 3, column 1
    assert m[2].sum() == 2 and m[2, 0, :2].all()  # clipped, floor/ceil of float corners
    two = metrics.boxes_to_masks([[[0, 0, 1, 1], [3, 3, 4, 4]]], (4, 4))  # two boxes, one image
    assert two.sum() == 2 and two[0, 0, 0] and two[0, 3, 3]


def test_threshold_rules():
    frac = metrics.threshold_maps(MAP, 0.5)
    np.testing.assert_array_equal(np.argwhere(frac[0]), [[0, 0], [0, 1], [1, 0]])
    ms = metrics.threshold_maps(MAP, "mean_std")  # mean 0.2125, std 0.3018 -> 0.514
    np.testing.assert_array_equal(np.argwhere(ms[0]), [[0, 0], [0, 1], [1, 0]])
    two_level = np.where(GT, 0.9, 0.1).astype(float)
    np.testing.assert_array_equal(metrics.threshold_maps(two_level, "otsu"), GT)
    for rule in (0.15, "mean_std", "otsu"):
        assert not metrics.threshold_maps(np.zeros((1, 4, 4)), rule).any()  # all-zero map
        assert metrics.threshold_maps(np.full((1, 4, 4), 0.3), rule).all()  # constant map


def test_iou_hand_computed_and_edges():
    r = metrics.iou(MAP, GT, threshold=0.5)  # 3 selected pixels, all inside a 4-pixel object
    assert r.values[0] == pytest.approx(3 / 4)
    assert r.higher_is_better
    r = metrics.iou(MAP, GT, threshold=0.35)  # + (1, 1) -> exactly the object
    assert r.values[0] == pytest.approx(1.0)
    zero = metrics.iou(np.zeros((1, 4, 4)), GT)
    assert zero.values[0] == 0.0 and np.isfinite(zero.mean)
    const = metrics.iou(np.full((1, 4, 4), 0.5), GT)  # selects everything
    assert const.values[0] == pytest.approx(4 / 16)
    boxes = metrics.iou(MAP, np.array([[0, 0, 2, 2]]), threshold=0.35)  # boxes work too
    assert boxes.values[0] == pytest.approx(1.0)


@settings(max_examples=30, deadline=None)
@given(arrays(bool, (3, 5, 6)), arrays(bool, (3, 5, 6)))
def test_mask_iou_symmetric_and_bounded(a, b):
    ab, ba = metrics.mask_iou(a, b), metrics.mask_iou(b, a)
    np.testing.assert_array_equal(ab, ba)
    assert np.all((ab >= 0) & (ab <= 1))
    same = metrics.mask_iou(a, a)
    np.testing.assert_array_equal(same, np.where(a.any(axis=(1, 2)), 1.0, 0.0))


def test_largest_component_box():
    b = np.zeros((1, 8, 8), bool)
    b[0, 0:2, 0:2] = True  # 4 px
    b[0, 4:7, 5:8] = True  # 9 px, touching the right border
    b[0, 3, 4] = True  # joins the second blob diagonally (8-connectivity): 10 px
    np.testing.assert_array_equal(metrics.largest_component_boxes(b), [[4, 3, 8, 7]])
    tie = np.zeros((1, 4, 4), bool)
    tie[0, 0, 3] = tie[0, 3, 0] = True  # equal areas: the first in row-major order
    np.testing.assert_array_equal(metrics.largest_component_boxes(tie), [[3, 0, 4, 1]])
    np.testing.assert_array_equal(metrics.largest_component_boxes(np.zeros((1, 4, 4), bool)), [[0, 0, 0, 0]])


def test_box_accuracy():
    maps = np.zeros((4, 8, 8))
    maps[0, 5:8, 5:8] = 1.0  # object at the border, found exactly
    maps[1, 3, 3] = 1.0  # single-pixel object, found exactly
    maps[2, 0:4, 0:4] = 1.0  # 16 px box vs 9 px object inside it: IoU 9/16
    # maps[3] is all zero: no box, a miss
    boxes = [(5, 5, 8, 8), (3, 3, 4, 4), [(0, 0, 3, 3), (6, 6, 8, 8)], (0, 0, 8, 8)]
    r = metrics.box_accuracy(maps, boxes, threshold=0.5)
    np.testing.assert_allclose(r.extras["iou"], [1.0, 1.0, 9 / 16, 0.0])
    np.testing.assert_array_equal(r.values, [1, 1, 1, 0])
    r = metrics.box_accuracy(maps, boxes, threshold=0.5, iou_threshold=0.6)
    np.testing.assert_array_equal(r.values, [1, 1, 0, 0])


def test_pointing_game_exact_and_tolerance():
    maps = np.zeros((3, 32, 32))
    gt = np.zeros((3, 32, 32), bool)
    gt[:, 0, 0] = True  # single-pixel object in the corner
    maps[0, 0, 0] = 1.0  # points exactly at it
    maps[1, 9, 12] = 1.0  # distance 15 -> hit
    maps[2, 0, 16] = 1.0  # distance 16 -> miss
    r = metrics.pointing_game(maps, gt)
    np.testing.assert_array_equal(r.values, [1, 1, 0])
    np.testing.assert_allclose(r.extras["distance"], [0, 15, 16])
    assert metrics.pointing_game(maps, gt, tolerance=0).mean == pytest.approx(1 / 3)


def test_pointing_game_ties_first_maximum():
    gt = np.zeros((2, 4, 4), bool)
    gt[0, 0, 0] = True
    gt[1, 3, 3] = True
    maps = np.stack([np.full((4, 4), 0.5), np.zeros((4, 4))])  # constant and all-zero maps
    r = metrics.pointing_game(maps, gt, tolerance=0)
    np.testing.assert_array_equal(r.extras["points"], [[0, 0], [0, 0]])
    np.testing.assert_array_equal(r.values, [1, 0])
    empty = metrics.pointing_game(maps, np.zeros((2, 4, 4), bool))
    np.testing.assert_array_equal(empty.values, [0, 0])


def test_energy_pointing_game():
    r = metrics.energy_pointing_game(MAP, GT)
    assert r.values[0] == pytest.approx(2.8 / 3.4)
    exact = metrics.energy_pointing_game(GT.astype(float), GT)
    assert exact.values[0] == 1.0
    assert metrics.energy_pointing_game(np.zeros((1, 4, 4)), GT).values[0] == 0.0
    assert metrics.energy_pointing_game(np.full((1, 4, 4), 0.7), GT).values[0] == pytest.approx(4 / 16)


def test_random_maps_score_near_chance():
    rng = np.random.default_rng(0)
    n = 400
    gt = np.zeros((n, 16, 16), bool)
    gt[:, 4:12, 0:8] = True  # a quarter of the image
    maps = rng.random((n, 16, 16))
    assert metrics.energy_pointing_game(maps, gt).mean == pytest.approx(0.25, abs=0.01)
    assert metrics.pointing_game(maps, gt, tolerance=0).mean == pytest.approx(0.25, abs=0.07)
    exact = metrics.pointing_game(gt.astype(float), gt)
    assert exact.mean == 1.0


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (2, 5, 5), elements=st.floats(0, 1)), arrays(bool, (2, 5, 5)))
def test_energy_bounded(maps, gt):
    v = metrics.energy_pointing_game(maps, gt).values
    assert np.all((v >= 0) & (v <= 1 + 1e-12))
    loc = metrics.loc_delta(maps, gt, delta=0.5).values
    assert np.all((loc >= 0) & (loc <= 1))


def test_loc_delta_hand_computed():
    # delta 0.5: selected (0,0), (0,1), (1,0): internal 3, external 0 -> 3 / (4 + 0)
    assert metrics.loc_delta(MAP, GT, delta=0.5).values[0] == pytest.approx(0.75)
    # delta 0.2: + (1,1) inside, (2,2) and (3,3) outside -> 4 / (4 + 2)
    assert metrics.loc_delta(MAP, GT, delta=0.2).values[0] == pytest.approx(4 / 6)
    assert metrics.loc_delta(np.zeros((1, 4, 4)), GT, delta=0.5).values[0] == 0.0
    assert metrics.loc_delta(GT.astype(float), GT).values[0] == 1.0


def _loc_by_hand(m, gt, delta):
    """Loc(δ) of one (H, W) map, written out: selected pixels inside over GT area + outside."""
    sel = m >= delta
    denom = gt.sum() + (sel & ~gt).sum()
    return (sel & gt).sum() / denom if denom else 0.0


def test_loc_delta_curve_hand_computed():
    curve = metrics.loc_delta_curve(MAP, GT, [0.0, 0.2, 0.5, 0.9, 1.0])
    # δ 0 selects all 16 pixels: 4 / (4 + 12), the object's share of the image;
    # δ 0.2 and 0.5 as in test_loc_delta_hand_computed; δ 0.9 and 1.0: only (0,0) -> 1 / 4
    np.testing.assert_allclose(curve.curves, [[4 / 16, 4 / 6, 0.75, 0.25, 0.25]])
    assert curve.values[0] == pytest.approx(np.mean([4 / 16, 4 / 6, 0.75, 0.25, 0.25]))
    assert curve.name == "loc_delta_curve" and curve.higher_is_better
    np.testing.assert_array_equal(curve.extras["deltas"], [0.0, 0.2, 0.5, 0.9, 1.0])


def test_loc_delta_curve_columns_are_loc_delta_in_the_order_given():
    rng = np.random.default_rng(3)
    maps = np.round(rng.random((6, 7, 9)), 1)  # ties on the thresholds themselves
    maps[1] = 0.0                              # all-zero map
    maps[2] = 0.4                              # constant map
    gt = rng.random((6, 7, 9)) > 0.6
    gt[3] = False                              # empty ground truth
    deltas = [0.5, 0.0, 0.1, 0.9, 1.0, 0.1, 0.3, 0.7]  # unsorted, one repeated
    curve = metrics.loc_delta_curve(maps, gt, deltas).curves
    assert curve.shape == (6, len(deltas))
    for j, d in enumerate(deltas):
        np.testing.assert_array_equal(curve[:, j], metrics.loc_delta(maps, gt, delta=d).values)
        np.testing.assert_allclose(curve[:, j], [_loc_by_hand(m, g, d) for m, g in zip(maps, gt)])


@pytest.mark.parametrize("bad", [[], [0.5, 1.2], [-0.1]])
def test_loc_delta_curve_rejects_thresholds_outside_0_1(bad):
    with pytest.raises(ValueError, match="deltas"):
        metrics.loc_delta_curve(MAP, GT, bad)


DELTAS = np.round(np.arange(11) / 10, 1)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 6, 6), elements=st.floats(0, 1)), arrays(bool, (3, 6, 6)))
def test_loc_delta_curve_properties(maps, gt):
    curve = metrics.loc_delta_curve(maps, gt, DELTAS).curves
    assert np.all((curve >= 0) & (curve <= 1))
    # δ = 0 selects every pixel: Loc(0) is the ground truth's share of the image, whatever the map
    np.testing.assert_allclose(curve[:, 0], gt.mean(axis=(1, 2)))
    # no energy outside the object: nothing external, Loc = selected inside / area, falling with δ
    inside_only = metrics.loc_delta_curve(np.where(gt, maps, 0.0), gt, DELTAS).curves[:, 1:]
    assert np.all(np.diff(inside_only, axis=1) <= 1e-12)
    # no energy inside the object: nothing internal above 0
    outside_only = metrics.loc_delta_curve(np.where(gt, 0.0, maps), gt, DELTAS).curves[:, 1:]
    assert np.all(outside_only == 0)
    # the curve of the object's own mask is 1 at every δ > 0 (when there is an object)
    exact = metrics.loc_delta_curve(gt.astype(float), gt, DELTAS).curves[:, 1:]
    np.testing.assert_array_equal(exact, np.where(gt.any(axis=(1, 2)), 1.0, 0.0)[:, None] * np.ones(10))


def test_class_sensitivity():
    a = np.zeros((3, 4, 4), bool)
    b = np.zeros((3, 4, 4), bool)
    a[:, :2, :2] = True
    b[:, 2:, 2:] = True
    maps = np.stack([a[0].astype(float), b[0].astype(float), np.ones((4, 4))])
    r = metrics.class_sensitivity(maps, a, b)
    np.testing.assert_allclose(r.values, [1.0, -1.0, 0.0])
    np.testing.assert_allclose(r.extras["energy_target"], [1, 0, 0.25])
    z = metrics.class_sensitivity(np.zeros((3, 4, 4)), a, b)
    np.testing.assert_array_equal(z.values, 0.0)


def test_errors():
    with pytest.raises(ValueError, match=r"\(1, 4, 4\)"):
        metrics.iou(MAP, np.zeros((1, 3, 3), bool))
    with pytest.raises(ValueError, match="threshold"):
        metrics.iou(MAP, GT, threshold="median")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.energy_pointing_game(MAP * 2, GT)
