"""Looking at explanations: overlays and class model visualization."""

from tfcam.visualize.class_model import visualize_class
from tfcam.visualize.overlay import overlay

__all__ = ["overlay", "visualize_class"]
