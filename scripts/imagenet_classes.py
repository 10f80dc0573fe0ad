"""Write tfcam/data/imagenet_classes.txt: ImageNet-1k's 1,000 class names, line k naming
class k (the class order of every Keras ImageNet model), run once; tfcam ships the file so
that nothing is downloaded at run time.

Where the names come from: KerasHub's `keras_hub.utils.imagenet_id_to_name` (the table
`IMAGENET_NAMES` in keras_hub/src/utils/imagenet/imagenet_utils.py, KerasHub 0.32), which is
Keras' imagenet_class_index.json (the file `keras.applications.imagenet_utils` downloads)
as a Python table. Two changes make the names readable and unique:

- underscores become spaces ("Egyptian_cat" -> "Egyptian cat");
- the two names WordNet gives twice get their sense: "crane" is the bird (134) and the
  machine (517); "maillot" is dancers' tights (638) and a swimsuit (639, "maillot, tank suit").

    python scripts/imagenet_classes.py          # rewrites the file; git diff shows any change
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tfcam" / "data" / "imagenet_classes.txt"
# index: readable name, where WordNet's word is shared by two classes
SENSES = {134: "crane (bird)", 517: "crane (machine)", 638: "maillot (tights)", 639: "maillot (tank suit)"}


def imagenet_classes() -> list[str]:
    """The 1,000 names from KerasHub, made readable and unique (see the module's docstring)."""
    from keras_hub.utils import imagenet_id_to_name

    names = [SENSES.get(k) or imagenet_id_to_name(k).replace("_", " ") for k in range(1000)]
    if len(set(names)) != len(names):
        raise SystemExit("ImageNet class names are not unique: add the new duplicates to SENSES")
    return names


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(imagenet_classes()) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
