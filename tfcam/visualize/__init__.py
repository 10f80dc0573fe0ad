"""Looking at explanations: overlays, a figure of images × methods, class model visualization."""

from tfcam.visualize.class_model import visualize_class
from tfcam.visualize.grid_figure import grid
from tfcam.visualize.overlay import overlay

__all__ = ["grid", "overlay", "visualize_class"]
