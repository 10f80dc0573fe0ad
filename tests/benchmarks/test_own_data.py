"""The benchmark on the user's own images and own model (issue 13): a folder of plain photos,
a seeded subset, an ImageNet-style folder, a saved Keras model, their own run folder, and a
one-line error for each bad input. Everything tiny: 32-px images, a three-conv model."""
import os
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

import benchmarks.configs  # noqa: F401 - registers the configs' resolvers
from benchmarks import app
from benchmarks.data.folder import load_folder
from tests.benchmarks.conftest import CONF, REPO, compose

SYNSETS = ["n01440764", "n01443537", "n01484850", "n01491361"]


def photos(folder, n=5, size=40):
    """``n`` random RGB photos (PNG) in ``folder``; their names, sorted."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"photo{i}.png" for i in range(n)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / name)
    return names


def voc(path, filename, objects):
    """A Pascal VOC file: ``objects`` [(name, xmin, ymin, xmax, ymax)] in VOC pixels."""
    body = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                   f"<ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation><filename>{filename}</filename>{body}</annotation>")


def imagenet_folder(root, synset_file="synsets.txt", labels=(2, 0, 3)):
    """ILSVRC-validation style: images/, annotations/*.xml named by WordNet id, a synset list."""
    names = photos(root / "images", len(labels))
    for name, label in zip(names, labels):
        voc(root / "annotations" / f"{name[:-4]}.xml", name[:-4], [(SYNSETS[label], 5, 5, 20, 20)])
    (root / synset_file).write_text("".join(f"{s} class {i}, words\n" for i, s in enumerate(SYNSETS)))
    return names


def tiny_model(path, classes=3, size=32):
    """A conv net saved with ``model.save``: three convolutions at 32, 16 and 8 px."""
    import keras
    from keras import layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, layers.Dense(classes, activation="softmax", name="predictions")(x), name="mine")
    model.save(path)
    return path


def saved_cfg(path, **more):
    return OmegaConf.create({"name": "m", "builder": "saved", "path": path and str(path), "preprocess": "none",
                             "layers": {}, **more})


# -- 1. a folder without boxes -----------------------------------------------------------------

def test_a_folder_of_plain_photos_loads_every_image_without_boxes(tmp_path):
    names = photos(tmp_path / "photos", 4)
    data = load_folder(tmp_path / "photos", 32, log=lambda *a: None)
    assert list(data.ids) == [n[:-4] for n in names]
    assert not data.has_boxes and (data.labels == -1).all() and data.images.shape == (4, 32, 32, 3)


def test_in_a_partly_boxed_folder_the_boxed_images_are_kept(tmp_path):
    photos(tmp_path, 3)
    voc(tmp_path / "photo1.xml", "photo1.png", [("cat", 1, 1, 10, 10)])
    said = []
    data = load_folder(tmp_path, 32, log=said.append)
    assert list(data.ids) == ["photo1"] and data.has_boxes
    assert "2 of 3 images" in said[0]


# -- 2. n_images: a seeded random subset -------------------------------------------------------

def test_n_images_takes_a_seeded_random_subset(tmp_path):
    from benchmarks.data.folder import choose
    names = [f"img{i:02d}.png" for i in range(20)]
    a, b = choose(names, 4, seed=0), choose(names, 4, seed=1)
    assert a == choose(names, 4, seed=0) and a != b and a != names[:4]
    assert a == sorted(a) and choose(names, None, 0) == names
    photos(tmp_path / "photos", 6)
    cfg = compose(["dataset=folder", f"dataset.root={tmp_path / 'photos'}", "dataset.image_size=32",
                   "dataset.n_images=3", "dataset.seed=5"])
    data = app.load_dataset(cfg.dataset, log=lambda *a: None)
    assert list(data.ids) == [n[:-4] for n in choose(sorted(f"photo{i}.png" for i in range(6)), 3, 5)]


# -- 3. an ImageNet-style folder ---------------------------------------------------------------

@pytest.mark.parametrize("synset_file", ["synsets.txt", "LOC_synset_mapping.txt"])
def test_imagenet_synsets_become_the_models_class_indices(tmp_path, synset_file):
    imagenet_folder(tmp_path, synset_file, labels=(2, 0, 3))
    data = load_folder(tmp_path, 32)
    assert list(data.labels) == [2, 0, 3] and data.meta["classes"] == "synsets"
    assert data.class_names == ["class 0", "class 1", "class 2", "class 3"]
    imagenet_model = type("Info", (), {"source": "imagenet"})()
    assert app.labels_are_model_classes(data, imagenet_model, len(SYNSETS))   # targets = labels
    assert not app.labels_are_model_classes(data, imagenet_model, 5)         # another model's classes


def test_a_synset_list_named_in_the_settings_and_the_ilsvrc_layout(tmp_path):
    root = tmp_path / "imagenet"
    names = photos(root / "ILSVRC" / "Data" / "CLS-LOC" / "val", 2)
    for name, label in zip(names, (1, 3)):
        voc(root / "ILSVRC" / "Annotations" / "CLS-LOC" / "val" / f"{name[:-4]}.xml", name[:-4],
            [(SYNSETS[label], 2, 2, 9, 9)])
    (tmp_path / "my_synsets.txt").write_text("\n".join(SYNSETS))
    data = load_folder(root, 32, synsets=str(tmp_path / "my_synsets.txt"))
    assert list(data.labels) == [1, 3] and data.has_boxes


def test_an_unknown_synset_is_named(tmp_path):
    imagenet_folder(tmp_path)
    voc(tmp_path / "annotations" / "photo1.xml", "photo1", [("n09999999", 1, 1, 5, 5)])
    with pytest.raises(ValueError, match="unknown synset 'n09999999' in the boxes of photo1.png"):
        load_folder(tmp_path, 32)


# -- 4. a saved model --------------------------------------------------------------------------

def test_a_saved_model_loads_with_its_layers_picked_by_depth(tmp_path):
    from benchmarks.models import saved
    from tfcam import graph
    from tfcam.layer_lookup import default_layer
    loaded = saved.load(saved_cfg(tiny_model(tmp_path / "m.keras")), log=lambda *a: None)
    assert loaded.info.source == "saved" and loaded.info.accuracy is None
    order = [layer.name for layer in loaded.model.layers]
    shallow, mid, last = (loaded.layers[c] for c in ("shallow", "mid", "last"))
    assert order.index(shallow) < order.index(mid) < order.index(last)
    assert last == default_layer(graph.trace(loaded.model)).path == "conv3"   # tfcam's default
    named = saved.load(saved_cfg(tmp_path / "m.keras", layers={"mid": "conv1"}), log=lambda *a: None)
    assert named.layers["mid"] == "conv1" and named.layers["last"] == "conv3"


def test_a_saved_models_preprocessing_is_its_first_layer(tmp_path):
    from benchmarks.models import saved
    path = tiny_model(tmp_path / "m.keras")
    plain = saved.load(saved_cfg(path), log=lambda *a: None).model
    tf_style = saved.load(saved_cfg(path, preprocess="tf"), log=lambda *a: None).model
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(tf_style.predict(x, verbose=0), plain.predict(2 * x - 1, verbose=0), atol=1e-5)
    assert [la.name for la in tf_style.layers][1:3] == ["preprocess", "conv1"]  # flat: one graph
    assert all(len(la._inbound_nodes) == 1 for la in tf_style.layers)  # layer.output is this graph's
    scaled = saved.load(saved_cfg(path, preprocess="255"), log=lambda *a: None).model
    np.testing.assert_allclose(scaled.predict(x, verbose=0), plain.predict(255 * x, verbose=0), atol=1e-5)


def test_a_saved_sequential_model_gets_its_preprocessing_too(tmp_path):
    import keras
    from keras import layers

    from benchmarks.models import saved
    seq = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, activation="relu", name="conv"),
                            layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax")])
    seq.save(tmp_path / "seq.keras")
    loaded = saved.load(saved_cfg(tmp_path / "seq.keras", preprocess="caffe"), log=lambda *a: None)
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    caffe = 255 * x[..., ::-1] - np.array([103.939, 116.779, 123.68], "float32")
    np.testing.assert_allclose(loaded.model.predict(x, verbose=0), seq.predict(caffe, verbose=0), atol=1e-4)
    assert loaded.layers["last"] == "conv"


@pytest.mark.parametrize("change, message", [
    ({"path": None}, "model=saved needs model.path=FILE.keras"),
    ({"path": "/nowhere/m.keras"}, "model.path=/nowhere/m.keras: no such file"),
    ({"path": "BAD"}, "Keras cannot load model.path="),
    ({"preprocess": "imagenet"}, "model.preprocess=imagenet: use none, tf, torch, caffe or a scale"),
    ({"layers": {"mid": "conv9"}}, "model.layers.mid=conv9: no layer named 'conv9'"),
])
def test_a_bad_saved_model_gets_a_one_line_error(tmp_path, change, message):
    from benchmarks.models import saved
    path = tiny_model(tmp_path / "m.keras")
    (tmp_path / "bad.keras").write_text("not a model")
    change = {k: (str(tmp_path / "bad.keras") if v == "BAD" else v) for k, v in change.items()}
    with pytest.raises((ValueError, FileNotFoundError), match=message.replace(".", r"\.")) as e:
        saved.load(saved_cfg(**{"path": path, **change}), log=lambda *a: None)
    assert "\n" not in str(e.value)


def test_a_saved_model_of_other_classes_never_runs_on_the_built_in_data(tmp_path):
    path = tiny_model(tmp_path / "m.keras", classes=7)
    cfg = compose(["dataset=synthetic32", "dataset.num_classes=3", "model=saved", f"++model.path={path}",
                   "dataset.image_size=32"])
    with pytest.raises(ValueError, match="has 7 classes, the built-in data 3: explain it on your images"):
        app.validate(cfg, log=lambda *a: None)
    cfg = compose(["dataset=synthetic64", "model=saved", f"++model.path={path}"])
    with pytest.raises(ValueError, match=r"takes \(32, 32\) images but dataset.image_size=64"):
        app.validate(cfg, log=lambda *a: None)


def test_a_folder_with_no_image_and_a_folder_setting_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image in .*empty"):
        load_folder(tmp_path / "empty")
    with pytest.raises(ValueError, match="dataset=folder needs dataset.root=DIR"):
        app.load_dataset(compose(["dataset=folder"]).dataset)


# -- 6. ImageNet weights never run on the built-in shapes --------------------------------------

def test_imagenet_weights_stop_a_run_on_the_built_in_data(tmp_path, monkeypatch):
    from benchmarks.models import zoo
    fake = tmp_path / "vgg16_weights.h5"
    monkeypatch.setattr(zoo, "imagenet_weights_file", lambda cfg: fake)
    with pytest.raises(ValueError, match=r"model vgg16 would use ImageNet weights .*dataset=folder"):
        app.validate(compose(["experiment=layers_full"]))
    app.validate(compose(["experiment=layers_full", "weights=train"]))      # trained on the shapes: fine
    app.validate(compose(["experiment=layers_full", "dataset=folder", f"dataset.root={tmp_path}"]))


# -- 5. its own run folder, and the whole run --------------------------------------------------

def run_dir(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides, return_hydra_config=True)
    return os.path.basename(str(cfg.hydra.run.dir))


def test_a_run_on_your_folder_or_model_has_its_own_folder(tmp_path):
    assert run_dir(["experiment=smoke"]) == "smoke"
    assert run_dir(["experiment=smoke", "model=vgg_small"]) == "smoke"
    assert run_dir(["experiment=smoke", "dataset=folder", "dataset.root=/data/photos"]) == "smoke-photos"
    assert run_dir(["experiment=smoke", "dataset=folder", "dataset.root=/data/photos", "model=saved",
                    "++model.path=/models/flowers.keras"]) == "smoke-photos-flowers"


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    photos(root / "photos", 3, size=36)
    return root, tiny_model(root / "m.keras")


OWN = ["dataset=folder", "dataset.image_size=32", "model=saved", "methods=[grad_cam,saliency]",
       "layers=[shallow,last]", "progress=false", "batch_size=4", "report.figures=false",
       "metrics.faithfulness.deletion_steps=3", "metrics.faithfulness.insertion_steps=3",
       "metrics.sanity.n_images=2", "metrics.sanity.modes=[cascading]", "metrics.sanity.max_steps=2",
       "metrics.shattered_gradients.n_images=2", "report.n_images=2"]


def test_your_model_on_your_photos_runs_every_task_but_localization(own, tmp_path):
    from benchmarks.results import read_table
    root, model = own
    cfg = compose(OWN + [f"dataset.root={root / 'photos'}", f"++model.path={model}",
                         "tasks=[localization,faithfulness,sanity,shattered_gradients]"])
    said = []
    summary = app.run(cfg, tmp_path / "out", log=said.append)
    table = read_table(tmp_path / "out" / "results.csv")
    assert set(table.task) == {"model", "localization", "faithfulness", "sanity", "shattered_gradients"}
    skipped = table[table.task == "localization"]
    assert list(skipped.metric) == ["skipped"] and "no image of photos has a box" in skipped.error.iloc[0]
    assert any("localization skipped" in line for line in said)
    assert table[table.task == "model"].weights.iloc[0] == "saved" and set(table.model) == {"m"}
    assert {"average_drop", "deletion"} <= set(table[table.task == "faithfulness"].metric)
    assert not (table.metric == "error").any(), table[table.metric == "error"].error.tolist()
    assert set(table[table.task == "faithfulness"].layer_choice) == {"shallow", "last", "input"}
    assert summary.is_file()


def test_an_imagenet_style_folder_is_explained_for_its_labels(tmp_path):
    """A model of the synset list's classes (as an ImageNet-weight model is) is explained for
    the boxes' classes, and localization runs on the boxes."""
    from benchmarks.results import read_table
    imagenet_folder(tmp_path / "val", labels=(2, 0, 3))
    model = tiny_model(tmp_path / "m.keras", classes=len(SYNSETS))
    cfg = compose(OWN + [f"dataset.root={tmp_path / 'val'}", f"++model.path={model}", "tasks=[localization]",
                         "methods=[grad_cam]", "layers=[last]"])
    app.run(cfg, tmp_path / "out", log=lambda *a: None)
    table = read_table(tmp_path / "out" / "results.csv")
    loc = table[(table.task == "localization") & (table.metric == "energy_pointing_game")]
    assert len(loc) == 3 and set(table.targets) == {"label"}


def test_a_folder_run_leaves_the_built_in_runs_folder_alone(own, tmp_path):
    root, model = own
    built_in = tmp_path / "faithfulness"
    built_in.mkdir()
    (built_in / "results.csv").write_text("the built-in run's results\n")
    env = {**os.environ, "TFCAM_OUTPUTS": str(tmp_path), "TFCAM_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "benchmarks", "experiment=faithfulness", *OWN, "methods=[saliency]",
           f"dataset.root={root / 'photos'}", f"++model.path={model}", "tasks=[faithfulness]"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "faithfulness-photos-m" / "summary.md").is_file()
    assert sorted(p.name for p in built_in.iterdir()) == ["results.csv"]
    assert (built_in / "results.csv").read_text() == "the built-in run's results\n"
