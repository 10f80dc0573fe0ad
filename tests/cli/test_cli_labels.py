"""`--labels imagenet|FILE`: ImageNet's names (shipped with tfcam) for a model of 1,000
outputs, asked for, never guessed: without --labels such a model gets a one-line note."""
import csv

import keras
import numpy as np
import pytest

from tfcam.cli import main
from tfcam.cli.class_names import class_index, class_names
from tfcam.cli.errors import UsageError


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """A tiny model of 1,000 outputs (an ImageNet classifier's head) and one image."""
    from skimage import io

    folder = tmp_path_factory.mktemp("imagenet")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1000)])
    model.save(folder / "model.keras")
    io.imsave(folder / "cat.png", np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8),
              check_contrast=False)
    return folder


def explain(folder, out, *args, capsys):
    code = main(["explain", str(folder / "model.keras"), str(folder / "cat.png"), "--out", str(out), *args])
    return code, capsys.readouterr()


def test_labels_imagenet_names_the_class_and_targets_take_its_names(thousand, tmp_path, capsys):
    code, out = explain(thousand, tmp_path, "--labels", "imagenet", "--target", "egyptian_cat", capsys=capsys)
    assert code == 0, out.err
    row = next(csv.DictReader(open(tmp_path / "explanations.csv")))
    assert row["target"] == "285" and row["class"] == "Egyptian cat (285)"
    assert "Egyptian cat (285)" in out.out and "note:" not in out.out


def test_without_labels_a_thousand_outputs_get_a_note_and_numbers(thousand, tmp_path, capsys):
    code, out = explain(thousand, tmp_path, "--target", "817", capsys=capsys)
    assert code == 0, out.err
    notes = [line for line in out.out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "--labels imagenet" in notes[0]
    assert next(csv.DictReader(open(tmp_path / "explanations.csv")))["class"] == "class 817"


def test_labels_imagenet_on_a_model_of_other_classes_is_an_error(workspace, tmp_path, capsys):
    code = main(["explain", str(workspace / "model.keras"), str(workspace / "rgb.png"), "--labels", "ImageNet",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "names 1,000 ImageNet classes, but the model has 3 outputs" in err


def test_class_names_of_the_labels_option(tmp_path):
    assert class_names(None) == {}
    names = class_names("imagenet")
    assert len(names) == 1000 and names[285] == "Egyptian cat"
    assert class_index("Sports_Car", names) == 817 and class_index("  tench ", names) == 0
    with pytest.raises(UsageError, match=r"Did you mean \['tabby', "):
        class_index("taby", names)
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    assert class_names(str(tmp_path / "names.txt")) == {0: "cat", 1: "dog"}
