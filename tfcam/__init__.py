"""tfcam: class activation maps, LRP and attributions for any Keras 3 model.

    import tfcam
    ex = tfcam.explain(model, images, method="grad_cam")
    ex.maps  # (N, H, W) in [0, 1]

Every method module is imported here: importing it registers its class (`tfcam.registry`).
"""

from tfcam import callbacks, lrp
from tfcam.api import explain, methods
from tfcam.attribution.gradients import InputXGradient, Saliency
from tfcam.attribution.guided import Deconvnet, GuidedBackprop, GuidedGradCAM
from tfcam.attribution.integrated_gradients import IntegratedGradients
from tfcam.attribution.occlusion import Occlusion
from tfcam.attribution.smoothgrad import SmoothGrad
from tfcam.cam.ablationcam import AblationCAM
from tfcam.cam.base import layer_gradients
from tfcam.cam.cam import CAM
from tfcam.cam.eigencam import EigenCAM
from tfcam.cam.gradcam import GradCAM
from tfcam.cam.gradcampp import GradCAMPlusPlus
from tfcam.cam.layercam import LayerCAM
from tfcam.cam.relevancecam import RelevanceCAM
from tfcam.cam.scorecam import ScoreCAM
from tfcam.cam.xgradcam import XGradCAM
from tfcam.explanation import Explanation
from tfcam.imagenet import imagenet_classes
from tfcam.layer_lookup import explainable_layers
from tfcam.lrp import LRP, relevance_at
from tfcam.registry import register
from tfcam.score_targets import regression_target, segmentation_target, similarity_target
from tfcam.visualize import overlay, visualize_class

METHODS = methods()

__version__ = "0.2.0"
__all__ = [
    "CAM", "EigenCAM", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM", "ScoreCAM", "AblationCAM",
    "RelevanceCAM", "LRP", "GuidedBackprop", "Deconvnet", "GuidedGradCAM", "lrp", "relevance_at",
    "Saliency", "InputXGradient", "SmoothGrad", "IntegratedGradients", "Occlusion",
    "Explanation", "explain", "explainable_layers", "methods", "METHODS", "overlay", "visualize_class",
    "layer_gradients",
    "register", "segmentation_target", "regression_target", "similarity_target", "imagenet_classes",
    "callbacks",
]
