"""The built-in data set: deterministic from its seed, exact ground truth."""
import numpy as np
import pytest

from benchmarks.data.dataset import boxes_from_masks
from benchmarks.data.synthetic import SyntheticSpec, class_names, generate


def _clean(**kw):
    """Flat grey background, no noise: every non-grey pixel belongs to an object."""
    base = dict(image_size=48, n_images=24, background="flat", noise_std=0.0, num_classes=5, seed=3)
    return SyntheticSpec(**{**base, **kw})


def test_same_seed_same_data_and_prefix_stable():
    a = generate(SyntheticSpec(image_size=32, n_images=12, seed=5))
    b = generate(SyntheticSpec(image_size=32, n_images=12, seed=5))
    for field in ("images", "labels", "masks", "boxes", "second_labels", "second_masks", "distractor_masks"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    c = generate(SyntheticSpec(image_size=32, n_images=12, seed=6))
    assert not np.array_equal(a.images, c.images)
    # image i does not depend on how many images are drawn (pairs sit at the end)
    big = generate(SyntheticSpec(image_size=32, n_images=24, seed=5, pair_fraction=0.0))
    small = generate(SyntheticSpec(image_size=32, n_images=12, seed=5, pair_fraction=0.0))
    same = big.labels[:12] == small.labels[:12]
    np.testing.assert_array_equal(big.images[:12][same], small.images[same])
    # splits differ
    t = generate(SyntheticSpec(image_size=32, n_images=12, seed=5, split="train"))
    assert not np.array_equal(a.images, t.images)


def test_shapes_ranges_and_classes():
    d = generate(SyntheticSpec(image_size=40, n_images=20, num_classes=4))
    assert d.images.shape == (20, 40, 40, 3) and d.images.dtype == np.float32
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert d.masks.shape == (20, 40, 40) and d.masks.dtype == bool
    assert set(d.labels) <= set(range(4)) and len(set(d.labels)) == 4
    assert d.class_names == class_names(4)
    assert d.masks.reshape(20, -1).any(1).all(), "every image holds its class object"


def test_masks_are_exactly_the_objects():
    d = generate(_clean())
    drawn = np.abs(d.images - 0.5).max(-1) > 1e-6
    union = d.masks | d.second_masks | d.distractor_masks
    np.testing.assert_array_equal(drawn, union)
    # masks do not overlap: a pixel belongs to one object
    assert not (d.masks & d.second_masks).any()
    assert not (d.masks & d.distractor_masks).any()
    assert not (d.second_masks & d.distractor_masks).any()


def test_boxes_are_the_masks_bounding_boxes():
    d = generate(_clean())
    for m, (x0, y0, x1, y1) in zip(d.masks, d.boxes):
        ys, xs = np.nonzero(m)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert m[y0:y1, x0:x1].sum() == m.sum()
    np.testing.assert_array_equal(boxes_from_masks(d.masks), d.boxes)
    # box -> mask (tfcam's rasterizer) -> box round trip
    from tfcam.metrics import boxes_to_masks
    np.testing.assert_array_equal(boxes_from_masks(boxes_to_masks(d.boxes, (48, 48))), d.boxes)


def test_objects_cut_by_the_border_keep_exact_ground_truth():
    d = generate(_clean(border_fraction=1.0, max_distractors=0, pair_fraction=0.0, n_images=16))
    n = 48
    touches = [(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()) for m in d.masks]
    assert all(touches), "every object placed across the border touches it"
    drawn = np.abs(d.images - 0.5).max(-1) > 1e-6
    np.testing.assert_array_equal(drawn, d.masks)
    for x0, y0, x1, y1 in d.boxes:
        assert 0 <= x0 < x1 <= n and 0 <= y0 < y1 <= n
        assert x0 == 0 or y0 == 0 or x1 == n or y1 == n


def test_two_class_images():
    d = generate(_clean(pair_fraction=0.5, n_images=20))
    pairs = d.pair_index()
    assert len(pairs) == 10 and (pairs >= 10).all()
    assert (d.second_labels[pairs] != d.labels[pairs]).all()
    assert d.second_masks[pairs].reshape(len(pairs), -1).any(1).all()
    assert d.masks[pairs].reshape(len(pairs), -1).any(1).all()
    singles = d.single_index()
    assert not d.second_masks[singles].any()
    assert (d.second_labels[singles] == -1).all()


def test_spec_validation():
    with pytest.raises(ValueError):
        SyntheticSpec(num_classes=99)
    with pytest.raises(ValueError):
        SyntheticSpec(split="nope")


def test_folder_loader_voc_and_csv(tmp_path):
    from skimage import io

    from benchmarks.data.folder import load_folder
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    img = (np.random.default_rng(0).uniform(size=(40, 80, 3)) * 255).astype(np.uint8)
    io.imsave(tmp_path / "images" / "a.png", img, check_contrast=False)
    io.imsave(tmp_path / "images" / "b.png", img, check_contrast=False)
    # VOC: 1-based inclusive pixels -> 0-based half-open
    (tmp_path / "annotations" / "a.xml").write_text(
        "<annotation><filename>a.png</filename><size><width>80</width><height>40</height></size>"
        "<object><name>cat</name><bndbox><xmin>11</xmin><ymin>5</ymin><xmax>30</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>dog</name><bndbox><xmin>51</xmin><ymin>1</ymin><xmax>80</xmax><ymax>40</ymax></bndbox></object>"
        "</annotation>")
    (tmp_path / "boxes.csv").write_text("filename,xmin,ymin,xmax,ymax,label\nb.png,0,0,40,20,dog\n")
    d = load_folder(tmp_path, image_size=40)
    assert len(d) == 2 and d.images.shape == (2, 40, 40, 3)
    assert d.class_names == ["cat", "dog"]
    ia = list(d.ids).index("a")
    ib = list(d.ids).index("b")
    assert d.labels[ia] == 0 and d.second_labels[ia] == 1
    # x scaled by 40/80: cat box x 10..30 -> 5..15, y 4..20 unchanged
    assert tuple(d.boxes[ia]) == (5, 4, 15, 20)
    assert d.second_masks[ia].any() and not (d.second_masks[ia] & d.masks[ia]).any()
    assert d.labels[ib] == 1 and tuple(d.boxes[ib]) == (0, 0, 20, 20)


def test_folder_dataset_runs_through_the_app(tmp_path, cache_dir):
    """A user's folder (VOC boxes) goes through the same runner; targets are the model's top-1."""
    pytest.importorskip("tfcam.metrics")
    import importlib
    import types

    from skimage import io

    from benchmarks import api
    from benchmarks.app import run
    from benchmarks.results import read_table
    from tests.benchmarks.conftest import compose, tiny_overrides
    root = tmp_path / "voc"
    (root / "images").mkdir(parents=True)
    d = generate(SyntheticSpec(image_size=48, n_images=4, seed=9))
    for i in range(4):
        io.imsave(root / "images" / f"im{i}.png", (d.images[i] * 255).astype(np.uint8), check_contrast=False)
        x0, y0, x1, y1 = d.boxes[i]
        (root / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.png</filename><object><name>{d.class_names[d.labels[i]]}</name>"
            f"<bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox>"
            f"</object></annotation>")
    base = [o for o in tiny_overrides() if not o.startswith("dataset")]
    cfg = compose(base + ["experiment=localization", "dataset=folder", f"dataset.root={root}",
                          "dataset.image_size=32", "methods=[grad_cam,gaussian]", "layers=[last]",
                          f"cache_dir={cache_dir}", "report.figures=false"])

    def explain(model, images, method, layer=None, targets=None, **kw):
        return types.SimpleNamespace(maps=np.asarray(images).mean(-1))

    fake = types.SimpleNamespace(explain=explain, metrics=importlib.import_module("tfcam.metrics"))
    with api.use(fake):
        run(cfg, tmp_path / "out", log=lambda *a, **k: None)
    t = read_table(tmp_path / "out" / "results.csv")
    pg = t[(t.metric == "pointing_game")]
    assert set(pg.method) == {"grad_cam", "gaussian"} and len(pg) == 8
    import pandas as pd
    ids = pd.read_csv(tmp_path / "out" / "images.csv").set_index("image").id
    import json
    made = json.loads((tmp_path / "out" / "dataset.json").read_text())  # how the data set was made
    assert made["name"] == "voc" and made["root"] == str(root)
    assert {ids[i] for i in pg.image} == {f"im{i}" for i in range(4)}
    assert "class_sensitivity" not in set(t.metric)  # the folder's classes are not the model's
