"""ImageNet-1k's class names, shipped with tfcam: nothing is downloaded.

    names = tfcam.imagenet_classes()
    names[285]   # 'Egyptian cat'

Line k of ``tfcam/data/imagenet_classes.txt`` names class k, in the order of every Keras
ImageNet model's 1,000 outputs (``scripts/imagenet_classes.py`` made it from KerasHub's
table: underscores as spaces, the two names WordNet repeats told apart, "crane (bird)").
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

NUM_CLASSES = 1000


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet class names; item k names output k of an ImageNet classifier."""
    # importlib.resources: found where tfcam is installed, as a wheel or from a checkout
    text = (resources.files("tfcam") / "data" / "imagenet_classes.txt").read_text(encoding="utf-8")
    names = tuple(line for line in text.splitlines() if line)
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"tfcam's ImageNet class list has {len(names)} names, not {NUM_CLASSES}: "
                           "the installed package is damaged; reinstall tfcam")
    return names
