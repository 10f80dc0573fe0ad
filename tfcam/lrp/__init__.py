"""Layer-wise Relevance Propagation: rules, composites, canonizers and the reverse walk.

    import tfcam.lrp as lrp
    ex = lrp.LRP(model, composite="epsilon_plus").attribute(images)   # relevance to the input
    A, R, scores = lrp.relevance_at(model, images, layer="block5_conv3")
    lrp.register_rule(MyLayer, lrp.rules.Epsilon())                   # a custom layer

See `rules` (the per-layer rules), `composites` (presets and rule assignment), `walk` (the
backward walk) and `start` (one-hot, logit, CLRP and SGLRP output relevance).
"""

from tfcam.lrp import rules
from tfcam.lrp.canonizers import BatchNormFolding, canonized
from tfcam.lrp.composites import (
    PRESETS,
    Composite,
    epsilon_alpha2_beta1,
    epsilon_gamma_box,
    epsilon_plus,
    epsilon_plus_flat,
    lrp_zero,
    register_rule,
    relevance_cam,
    unregister_rule,
)
from tfcam.lrp.methods import LRP, LayerRelevance, relevance_at
from tfcam.lrp.start import STARTS, start_vector
from tfcam.lrp.walk import Site, Walk

__all__ = [
    "rules", "Composite", "PRESETS", "register_rule", "unregister_rule", "epsilon_plus",
    "epsilon_gamma_box", "epsilon_alpha2_beta1", "epsilon_plus_flat", "relevance_cam",
    "lrp_zero", "BatchNormFolding", "canonized", "LRP", "LayerRelevance", "relevance_at",
    "STARTS", "start_vector", "Walk", "Site",
]
