"""What the command line does to the user's files before tfcam sees them: reading any image
format to RGB in [0, 1], fitting the model's input, the preprocessing conventions, class
names; and the layer list `tfcam layers` prints."""
import json

import keras
import numpy as np
import pytest

from tfcam import preprocess
from tfcam.cli.class_names import class_index, read_class_names
from tfcam.cli.errors import UsageError
from tfcam.cli.images import fit_to_model, image_paths
from tfcam.image_files import read_image
from tfcam.layer_lookup import explainable_layers


def test_read_image_gives_rgb_in_unit_range(tmp_path):
    from skimage import io
    grey16 = np.full((5, 6), 65535, np.uint16)
    grey16[0, 0] = 0
    io.imsave(tmp_path / "deep.png", grey16, check_contrast=False)
    image = read_image(tmp_path / "deep.png")
    assert image.shape == (5, 6, 3) and image.dtype == np.float32
    assert image[0, 0].tolist() == [0, 0, 0] and image[1, 1].tolist() == [1, 1, 1]
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10
    io.imsave(tmp_path / "alpha.png", rgba, check_contrast=False)
    np.testing.assert_array_equal(read_image(tmp_path / "alpha.png")[0, 0], [1, 0, 0])


def test_fit_to_model_resizes_and_makes_grey(tmp_path):
    image = np.zeros((10, 20, 3), np.float32)
    image[..., 1] = 1.0
    assert fit_to_model(image, 8, 8, 3).shape == (8, 8, 3)
    assert fit_to_model(image, None, None, 3).shape == (10, 20, 3)  # a model of any size
    grey = fit_to_model(image, 8, 8, 1)
    assert grey.shape == (8, 8, 1)
    np.testing.assert_allclose(grey, 0.7152, atol=1e-3)  # ITU-R 709 luma of pure green


def test_a_folder_stands_for_its_images(tmp_path):
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "a.JPG").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in image_paths([tmp_path])] == ["a.JPG", "b.png"]
    with pytest.raises(UsageError, match="has no images"):
        image_paths([tmp_path / "empty"]) if (tmp_path / "empty").mkdir() is None else None


@pytest.mark.parametrize("mode, pixel, expected", [
    ("none", (0.5, 0.25, 1.0), (0.5, 0.25, 1.0)),
    ("tf", (0.5, 0.25, 1.0), (0.0, -0.5, 1.0)),
    ("torch", (0.485, 0.456, 0.406), (0.0, 0.0, 0.0)),
    ("torch", (1.0, 1.0, 1.0), ((1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225)),
    ("caffe", (1.0, 0.0, 0.0), (-103.939, -116.779, 255 - 123.68)),  # BGR: red goes last
    ("255", (0.5, 0.25, 1.0), (127.5, 63.75, 255.0)),
])
def test_preprocessing_conventions(mode, pixel, expected):
    images = np.asarray(pixel, np.float32).reshape(1, 1, 1, 3)
    kept = images.copy()
    np.testing.assert_allclose(preprocess.apply(images, mode)[0, 0, 0], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(images, kept)  # the caller's array is not changed


def test_preprocessing_errors():
    with pytest.raises(ValueError, match="use none, tf, torch, caffe"):
        preprocess.affine("imagenet")
    with pytest.raises(ValueError, match="for RGB images"):
        preprocess.apply(np.zeros((1, 2, 2, 1)), "torch")


def test_class_names_from_text_and_json(tmp_path):
    (tmp_path / "names.txt").write_text("cat\n\ndog\n")
    assert read_class_names(tmp_path / "names.txt") == {0: "cat", 2: "dog"}
    (tmp_path / "list.json").write_text(json.dumps(["cat", "dog"]))
    assert read_class_names(tmp_path / "list.json") == {0: "cat", 1: "dog"}
    (tmp_path / "keras.json").write_text(json.dumps({"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}))
    names = read_class_names(tmp_path / "keras.json")
    assert names == {0: "tench", 1: "goldfish"}
    assert class_index("Goldfish", names) == 1 and class_index("0", names) == 0
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not valid JSON"):
        read_class_names(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="--labels FILE"):
        class_index("cat", {})


def test_explainable_layers_of_a_nested_model():
    base = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(2, 3, name="c1"),
                             keras.layers.Conv2D(2, 3, name="c2")], name="base")
    inputs = keras.Input((12, 12, 3))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(base(inputs)))
    found = explainable_layers(keras.Model(inputs, outputs))
    assert [layer.path for layer in found] == ["base/c1", "base/c2"]
    assert [layer.default for layer in found] == [False, True]
    assert found[0].kind == "Conv2D" and found[0].shape == (None, 10, 10, 2)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert explainable_layers(dense) == []
