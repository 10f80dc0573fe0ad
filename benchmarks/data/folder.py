"""A user's folder of images with boxes: Pascal VOC XML files or one CSV.

Layout accepted::

    folder/
      images/*.jpg|png          (or the images directly in the folder)
      annotations/*.xml         Pascal VOC, one per image, same stem as the image
      boxes.csv                 or: columns filename,xmin,ymin,xmax,ymax,label

Boxes become masks at the loading size (images are resized to ``image_size``). The primary
object of an image is its first box's class; every box of that class joins its mask; a box of
another class makes the image a two-class image (class-sensitivity test).
"""
from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from benchmarks.data.dataset import Dataset, boxes_from_masks

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


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


def _read_image(path) -> np.ndarray:
    from skimage import io
    img = np.asarray(io.imread(path))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    img = img[..., :3].astype(np.float32)
    return img / 255.0 if img.max() > 1.0 else img


def load_folder(root, image_size: int = 224, csv_file: str | None = None,
                class_names: list | None = None, limit: int | None = None) -> Dataset:
    """Load ``root`` (see the module docstring) as a :class:`Dataset` of (image_size)² images."""
    from skimage.transform import resize

    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    img_dir = root / "images" if (root / "images").is_dir() else root
    files = {p.name: p for p in sorted(img_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    stems = {p.stem: p for p in files.values()}
    annotations: dict = {}
    csv_path = Path(csv_file) if csv_file else root / "boxes.csv"
    if not csv_path.is_absolute():
        csv_path = root / csv_path
    if csv_path.is_file():
        annotations.update(parse_csv(csv_path))
    ann_dir = root / "annotations" if (root / "annotations").is_dir() else root
    for xml in sorted(ann_dir.glob("*.xml")):
        name, objs = parse_voc(xml)
        if name not in files:
            name = stems[xml.stem].name if xml.stem in stems else name
        annotations.setdefault(name, []).extend(objs)
    names = [n for n in files if annotations.get(n)]
    if not names:
        raise ValueError(f"no image in {img_dir} has a box (looked for {csv_path.name} and VOC *.xml)")
    if limit:
        names = names[:limit]
    classes = list(class_names) if class_names else sorted({o[0] for n in names for o in annotations[n]})
    n, s = len(names), image_size
    images = np.empty((n, s, s, 3), np.float32)
    masks = np.zeros((n, s, s), bool)
    second_masks = np.zeros((n, s, s), bool)
    labels = np.full(n, -1, np.int64)
    second = np.full(n, -1, np.int64)
    for i, name in enumerate(names):
        img = _read_image(files[name])
        h, w = img.shape[:2]
        images[i] = resize(img, (s, s), order=1, anti_aliasing=True)
        objs = annotations[name]
        first = objs[0][0]
        labels[i] = classes.index(first) if first in classes else -1
        for label, x0, y0, x1, y1 in objs:
            sx, sy = s / w, s / h
            box = (slice(max(int(np.floor(y0 * sy)), 0), int(np.ceil(y1 * sy))),
                   slice(max(int(np.floor(x0 * sx)), 0), int(np.ceil(x1 * sx))))
            if label == first:
                masks[i][box] = True
            else:
                second_masks[i][box] = True
                if second[i] < 0 and label in classes:
                    second[i] = classes.index(label)
    second_masks &= ~masks
    second_masks[second < 0] = False
    return Dataset(images=images, labels=labels, masks=masks, boxes=boxes_from_masks(masks),
                   class_names=classes, second_labels=second, second_masks=second_masks,
                   ids=np.array([Path(nm).stem for nm in names]), name=root.name,
                   meta={"root": str(root)})
