"""KerasHub's image classifiers, built from configs with random weights (no preset is
downloaded): every method family explains each, at the default layer and at a named inner
layer (issue 25 §4)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import tfcam
from benchmarks.models import architectures
from tfcam.layer_lookup import explainable_layers

pytest.importorskip("keras_hub")

SIZE = 32
HUB = [name for name, (source, _) in architectures.FAMILIES.items() if source == "KerasHub"]
# JAX compiles each (model, method) for seconds: there the transformers and one CNN run by
# default, every family with -m slow
ON_JAX = {"ViT", "DeiT", "ResNet"}
FAMILIES = [pytest.param(f, marks=pytest.mark.slow)
            if keras.backend.backend() == "jax" and f not in ON_JAX else f for f in HUB]
# KerasHub's DeiT blocks return (output, None); Keras cannot call them on symbolic inputs,
# so the encoder stays one layer, without an LRP rule (the error says so)
OPAQUE_TO_LRP = {"DeiT": "deit_encoder.*does not trace on symbolic inputs"}


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (2, SIZE, SIZE, 3)).astype("float32")


def _varies(values) -> bool:
    flat = np.asarray(values).reshape(len(values), -1)
    return bool(np.isfinite(flat).all() and flat.std(axis=1).min() > 1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_method_family_explains_a_keras_hub_classifier(family, images):
    model = architectures.FAMILIES[family][1](SIZE, 3)
    layers = explainable_layers(model)
    default = [la.path for la in layers if la.default]
    assert default, f"{family}: no default CAM layer"
    # a layer inside the backbone, by its path (DeiT has none but its default: its encoder
    # is one layer, of which the head reads the class token only)
    usable = [la.path for la in layers if not la.default and not la.class_token_only]
    inner = usable[len(usable) // 2] if usable else None
    assert inner is None or "/" in inner
    runs = {"grad_cam": {}, "score_cam": {"max_channels": 4}, "saliency": {},
            "relevance_cam": {}, "lrp": {}}
    for method, options in runs.items():
        if method in ("relevance_cam", "lrp") and family in OPAQUE_TO_LRP:
            with pytest.raises(ValueError, match=OPAQUE_TO_LRP[family]):
                tfcam.explain(model, images, method=method, **options)
            continue
        explanation = tfcam.explain(model, images, method=method, **options)
        assert explanation.maps.shape == (2, SIZE, SIZE), method
        if explanation.layer is not None:
            assert explanation.layer == default[0]
        # the signed map carries information (a random network's ReLU'd map may be 0)
        assert _varies(explanation.signed), (family, method)
    for method in ("grad_cam", "relevance_cam") if inner else ():
        if method == "relevance_cam" and family in OPAQUE_TO_LRP:
            continue
        explanation = tfcam.explain(model, images, method=method, layer=inner)
        assert explanation.layer == inner
        assert _varies(explanation.signed), (family, method, inner)
