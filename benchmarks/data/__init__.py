"""Data sets with ground truth: the built-in procedural set and a user's folder of images."""
from ..data.dataset import Dataset
from ..data.folder import load_folder
from ..data.synthetic import SyntheticSpec, generate

__all__ = ["Dataset", "SyntheticSpec", "generate", "load_folder"]
