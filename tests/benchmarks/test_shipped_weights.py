"""The model cache's key covers what changes the weights and nothing else; the package ships
the default small models' weights, so a cold cache does not train them."""
import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from benchmarks import shipping as shipped
from benchmarks.models import train
from tests.benchmarks.conftest import compose


def _key(model_cfg, train_cfg, data_cfg, size=64, classes=5):
    return train.config_hash(model_cfg, train_cfg, train.training_fingerprint(data_cfg, size, classes))


@pytest.fixture(scope="module")
def default_recipe():
    return shipped.recipe("vgg_small", compose(["models=[vgg_small]"]))


def test_a_folder_run_shares_the_built_in_runs_model(default_recipe):
    # A folder config names no synthetic parameters; its model is trained on the defaults,
    # so it is the built-in run's model (before: data=None hashed apart, and trained again).
    model_cfg, train_cfg, data_cfg, size, classes = default_recipe
    folder = compose(["dataset=folder", "dataset.root=/nowhere", "dataset.image_size=64"]).dataset
    assert _key(model_cfg, train_cfg, folder) == _key(model_cfg, train_cfg, data_cfg)
    assert _key(model_cfg, train_cfg, None) == _key(model_cfg, train_cfg, data_cfg)


def test_settings_that_do_not_change_the_weights_keep_the_key(default_recipe):
    model_cfg, train_cfg, data_cfg, *_ = default_recipe
    key = _key(model_cfg, train_cfg, data_cfg)
    for setting, value in (("on_inaccurate", "warn"), ("min_accuracy", 0.99)):
        assert _key(model_cfg, OmegaConf.merge(train_cfg, {setting: value}), data_cfg) == key, setting
    # ... while the recipe, the data and the architecture do change it
    assert _key(model_cfg, OmegaConf.merge(train_cfg, {"epochs": 8}), data_cfg) != key
    assert _key(model_cfg, train_cfg, OmegaConf.merge(data_cfg, {"noise_std": 0.05})) != key
    assert _key(OmegaConf.merge(model_cfg, {"widths": [8, 8, 8, 8, 8]}), train_cfg, data_cfg) != key
    assert _key(model_cfg, train_cfg, data_cfg, size=96) != key
    # the evaluation set's own size and seed are not the training data's
    assert _key(model_cfg, train_cfg, OmegaConf.merge(data_cfg, {"n_images": 7, "seed": 3})) == key


@pytest.mark.parametrize("name", shipped.DEFAULT_MODELS)
def test_the_package_ships_the_current_recipes_weights(name):
    # Fails when the models, the recipe or the data change without scripts/ship_weights.py.
    folder = train.SHIPPED / shipped.folder_name(name)
    assert (folder / "model.weights.h5").is_file(), (
        f"{folder} is missing: run `python scripts/ship_weights.py {name}`")
    info = json.loads((folder / "info.json").read_text())
    assert info["accuracy"] >= 0.8


def test_a_cold_cache_loads_the_shipped_model_without_training(tmp_path, monkeypatch):
    model_cfg, train_cfg, data_cfg, size, classes = shipped.recipe("resnet_small")
    monkeypatch.setattr(train, "train_model", lambda *a, **k: pytest.fail("trained instead of loading"))
    model, info = train.load_or_train(model_cfg, train_cfg, data_cfg, size, classes, tmp_path, progress=False)
    assert info.source == "shipped"
    assert info.accuracy == json.loads((train.SHIPPED / shipped.folder_name("resnet_small") / "info.json")
                                       .read_text())["accuracy"]
    assert not any(tmp_path.iterdir())  # nothing written to the user's cache
    assert model.output_shape == (None, classes)


def test_large_training_sets_are_not_written_to_the_cache(tmp_path, monkeypatch):
    # The 224-px folder run wrote a 1.2 GB training file; above the limit the set stays in
    # memory (the next model of the run reuses it) and nothing is written.
    monkeypatch.setattr(train, "MAX_CACHED_DATA_BYTES", 0)
    monkeypatch.setattr(train, "_DATA_IN_MEMORY", {})
    train_cfg = OmegaConf.create({"n_train": 4, "n_val": 2, "data_seed": 1})
    calls = []
    real_generate = train.generate
    monkeypatch.setattr(train, "generate", lambda spec, progress: calls.append(spec) or real_generate(spec, progress))
    first = train._cached_train_data(None, train_cfg, 3, 32, False, tmp_path)
    second = train._cached_train_data(None, train_cfg, 3, 32, False, tmp_path)
    assert len(calls) == 2  # train and validation sets, generated once
    assert np.array_equal(first[2].images, second[2].images)
    assert not (tmp_path / "data").exists()


# How far a retrained model's validation accuracy may be from the shipped one. Op
# determinism holds per machine, not across CPUs: seed 0 of the recipe gives resnet_small
# 0.850 on this project's 2-core x86-64 machine, 0.830 on an AMD EPYC, 0.867 where it was
# shipped, so another machine is another draw from the recipe's spread over seeds. Measured
# 2026-12-06 here (TensorFlow, 300 validation images, seeds 0-4): resnet_small 0.817-0.897
# (sd 0.033), vgg_small 0.897-0.927 (sd 0.013); the farthest seed is 0.050 from the shipped
# accuracy for both. The tolerance covers every seed with 0.03 to spare; a broken recipe
# (chance is 0.2) is far outside it.
ACCURACY_TOLERANCE = 0.08


@pytest.mark.slow
@pytest.mark.parametrize("name", shipped.DEFAULT_MODELS)
def test_the_recipe_reproduces_the_shipped_accuracy(name, tmp_path):
    # Minutes per model: run with `bash scripts/test.sh -m slow`.
    _, accuracy = shipped.train_for_shipping(name, tmp_path)
    info = json.loads((train.SHIPPED / shipped.folder_name(name) / "info.json").read_text())
    assert abs(accuracy - info["accuracy"]) <= ACCURACY_TOLERANCE, (accuracy, info["accuracy"])
