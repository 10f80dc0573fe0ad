"""Looking at explanations: overlays, a figure of images × methods, class model
visualization, maps resized as tfcam resizes them."""

from tfcam.visualize.class_model import visualize_class
from tfcam.visualize.grid_figure import grid
from tfcam.visualize.overlay import overlay
from tfcam.visualize.resize import resize_maps

__all__ = ["grid", "overlay", "resize_maps", "visualize_class"]
