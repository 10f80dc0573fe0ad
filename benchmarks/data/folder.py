"""A user's folder of images, with boxes (Pascal VOC XML files or one CSV) or without.

Layouts accepted::

    folder/
      images/*.jpg|png          (or the images directly in the folder)
      annotations/*.xml         Pascal VOC, one per image, same stem as the image
      boxes.csv                 or: columns filename,xmin,ymin,xmax,ymax,label
      synsets.txt               optional (or LOC_synset_mapping.txt): ImageNet class ids

    folder/ILSVRC/Data/CLS-LOC/val/*.JPEG + folder/ILSVRC/Annotations/CLS-LOC/val/*.xml
      + folder/LOC_synset_mapping.txt          (the ImageNet localization download)

Boxes become masks at the loading size (images are resized to ``image_size``). The primary
object of an image is its first box's class; every box of that class joins its mask; a box of
another class makes the image a two-class image (class-sensitivity test).

Which images: when some images have boxes, those (the others are left out, with a log line);
when none has, every image, with empty masks and label -1 (localization cannot run on them).
``n_images`` takes a random subset, seeded by ``seed``.

Labels: with a synset list (lines ``n01440764 tench, Tinca tinca`` in class-index order) the
boxes' names are WordNet ids and a label is its line number, i.e. the class index of a model
with ImageNet weights; else the index in ``class_names`` (in your model's class order) or in
the sorted box names. ``Dataset.meta["classes"]`` says which (synsets | class_names | boxes).
"""
from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from tfcam.image_files import read_image

from ..data.dataset import Dataset, boxes_from_masks

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
SYNSET_FILES = ("LOC_synset_mapping.txt", "synsets.txt")
# (images, annotations) sub-folders, first match wins; the folder itself is the fallback
LAYOUTS = (("images", "annotations"),
           ("ILSVRC/Data/CLS-LOC/val", "ILSVRC/Annotations/CLS-LOC/val"))


def parse_voc(path) -> tuple:
    """Pascal VOC XML -> (filename, [(label, xmin, ymin, xmax, ymax)]), VOC's 1-based inclusive
    pixel coordinates converted to 0-based half-open."""
    root = ET.parse(path).getroot()
    filename = root.findtext("filename") or Path(path).stem
    objects = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        objects.append((obj.findtext("name", "object").strip(), x0 - 1, y0 - 1, x1, y1))
    return filename, objects


def parse_csv(path) -> dict:
    """CSV with a header ``filename,xmin,ymin,xmax,ymax,label`` (0-based, half-open pixels)."""
    out: dict = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            box = tuple(float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax"))
            out.setdefault(row["filename"], []).append((row.get("label", "object").strip(), *box))
    return out


def parse_synsets(path) -> tuple:
    """A synset list -> (WordNet ids, readable names), in class-index order (line order)."""
    ids, names = [], []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            wnid, _, words = line.strip().partition(" ")
            ids.append(wnid)
            names.append(words.split(",")[0].strip() or wnid)
    if not ids:
        raise ValueError(f"synset list {path} is empty (expected lines like 'n01440764 tench, Tinca tinca')")
    return ids, names


def find_synsets(root: Path, synsets: str | None) -> Path | None:
    """``synsets`` (absolute, or relative to the folder), else a known file in the folder."""
    if synsets:
        path = Path(str(synsets)).expanduser()
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise FileNotFoundError(f"dataset.synsets={synsets}: no such file (give a path, absolute "
                                    f"or relative to {root})")
        return path
    return next((root / n for n in SYNSET_FILES if (root / n).is_file()), None)


def _folders(root: Path) -> tuple:
    for images, boxes in LAYOUTS:
        if (root / images).is_dir():
            ann = root / boxes
            return root / images, ann if ann.is_dir() else root  # XML beside images/: as before
    return root, root


def read_annotations(root: Path, img_dir: Path, ann_dir: Path, files: dict, csv_file) -> dict:
    """image file name -> [(label, x0, y0, x1, y1)] from the CSV and the VOC files."""
    stems = {p.stem: p for p in files.values()}
    annotations: dict = {}
    csv_path = Path(csv_file) if csv_file else root / "boxes.csv"
    if not csv_path.is_absolute():
        csv_path = root / csv_path
    if csv_path.is_file():
        annotations.update(parse_csv(csv_path))
    for xml in sorted(ann_dir.glob("*.xml")):
        name, objs = parse_voc(xml)
        if name not in files:
            name = stems[xml.stem].name if xml.stem in stems else name
        annotations.setdefault(name, []).extend(objs)
    return annotations


def choose(names: list, n_images: int | None, seed: int) -> list:
    """A random subset of ``n_images`` names (seeded), in the folder's order; all if None."""
    if not n_images or n_images >= len(names):
        return names
    keep = np.random.default_rng(seed).choice(len(names), int(n_images), replace=False)
    return [names[i] for i in sorted(keep)]


def _class_index(classes: list, synsets: Path | None, annotations: dict, names: list) -> dict:
    """box name -> label; with a synset list every name must be one of its ids."""
    index = {c: i for i, c in enumerate(classes)}
    for n in names if synsets is not None else ():
        unknown = [o[0] for o in annotations.get(n, ()) if o[0] not in index]
        if unknown:
            raise ValueError(f"unknown synset {unknown[0]!r} in the boxes of {n}: not in {synsets.name} "
                             f"(the boxes' names must be its WordNet ids, e.g. {classes[0]})")
    return index


def load_folder(root, image_size: int = 224, csv_file: str | None = None,
                class_names: list | None = None, n_images: int | None = None, seed: int = 0,
                synsets: str | None = None, log=print) -> Dataset:
    """Load ``root`` (see the module docstring) as a :class:`Dataset` of (image_size)² images."""
    from skimage.transform import resize

    root = Path(str(root)).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset.root={root} is not a folder: give the folder of your images")
    img_dir, ann_dir = _folders(root)
    files = {p.name: p for p in sorted(img_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not files:
        raise ValueError(f"no image in {img_dir} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} files; "
                         f"put them in the folder or in its images/ sub-folder)")
    annotations = read_annotations(root, img_dir, ann_dir, files, csv_file)
    boxed = [n for n in files if annotations.get(n)]
    if boxed and len(boxed) < len(files):
        log(f"[tfcam-bench] {len(files) - len(boxed)} of {len(files)} images in {img_dir} have no box "
            f"and are left out (localization needs boxes); a folder without any box uses every image")
    names = choose(boxed or list(files), n_images, seed)
    synset_file = find_synsets(root, synsets)
    if synset_file is not None and class_names:
        raise ValueError("give dataset.synsets or dataset.class_names, not both")
    if synset_file is not None:
        classes, readable = parse_synsets(synset_file)
        kind = "synsets"
    else:
        classes = list(class_names) if class_names else sorted({o[0] for n in names for o in annotations.get(n, ())})
        readable, kind = classes, "class_names" if class_names else "boxes"
    index = _class_index(classes, synset_file, annotations, names)
    n, s = len(names), image_size
    images = np.empty((n, s, s, 3), np.float32)
    masks = np.zeros((n, s, s), bool)
    second_masks = np.zeros((n, s, s), bool)
    labels = np.full(n, -1, np.int64)
    second = np.full(n, -1, np.int64)
    for i, name in enumerate(names):
        img = read_image(files[name])
        h, w = img.shape[:2]
        images[i] = resize(img, (s, s), order=1, anti_aliasing=True)
        objs = annotations.get(name) or []
        if not objs:
            continue
        first = objs[0][0]
        labels[i] = index.get(first, -1)
        for label, x0, y0, x1, y1 in objs:
            sx, sy = s / w, s / h
            box = (slice(max(int(np.floor(y0 * sy)), 0), int(np.ceil(y1 * sy))),
                   slice(max(int(np.floor(x0 * sx)), 0), int(np.ceil(x1 * sx))))
            if label == first:
                masks[i][box] = True
            else:
                second_masks[i][box] = True
                if second[i] < 0 and label in index:
                    second[i] = index[label]
    second_masks &= ~masks
    second_masks[second < 0] = False
    meta = {"root": str(root), "classes": kind, "boxes": bool(boxed)}
    if synset_file is not None:
        meta["synsets"] = str(synset_file)
    return Dataset(images=images, labels=labels, masks=masks, boxes=boxes_from_masks(masks),
                   class_names=list(readable), second_labels=second, second_masks=second_masks,
                   ids=np.array([Path(nm).stem for nm in names]), name=root.name, meta=meta)
