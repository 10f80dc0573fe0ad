"""Data sets with ground truth: the built-in procedural set and a user's folder of images."""
from benchmarks.data.dataset import Dataset
from benchmarks.data.folder import load_folder
from benchmarks.data.synthetic import SyntheticSpec, generate

__all__ = ["Dataset", "SyntheticSpec", "generate", "load_folder"]
