"""`tfcam explain MODEL IMAGE... --method M`: overlays, maps and a grid figure on disk."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np

from tfcam.cli.class_names import check_class_count, class_index, class_names, labels_note
from tfcam.cli.errors import UsageError
from tfcam.cli.images import fit_to_model, image_paths, model_input
from tfcam.cli.model_file import load_model
from tfcam.image_files import read_image


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the saved Keras model (.keras or .h5)")
    parser.add_argument("images", nargs="+", help="image files, or folders of images")
    parser.add_argument("--method", "-m", action="append", dest="methods", metavar="METHOD",
                        help="a method of `tfcam methods` (repeat for several; default grad_cam)")
    parser.add_argument("--layer", "-l", help="the layer CAM methods explain (`tfcam layers MODEL` "
                        "lists them; default: the last spatial layer)")
    parser.add_argument("--target", "-t", help="the class to explain, an index or a name of "
                        "--labels (default: each image's top-1 class)")
    parser.add_argument("--out", "-o", default="tfcam-out", help="output folder (default tfcam-out)")
    parser.add_argument("--preprocess", "-p", default="none",
                        help="what the model expects of RGB images in [0, 1]: none, tf ([-1, 1]), "
                        "torch (ImageNet mean/std), caffe (BGR 0-255 minus the mean) or a number, a "
                        "scale (255 for 0-255 images); default none")
    parser.add_argument("--scale", type=float, help="same as --preprocess NUMBER")
    parser.add_argument("--labels", metavar="imagenet|FILE",
                        help="class names: imagenet (ImageNet's 1,000, shipped with tfcam), or a file: "
                        "one name per line (line 1 is class 0) or a JSON list; default: class numbers")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a method option (see `tfcam methods`), e.g. max_channels=32; "
                        "given to the methods that take it")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per model call (default 32)")


def run(args, log=print) -> int:
    import tfcam
    from tfcam import preprocess

    methods = list(dict.fromkeys(tfcam.registry.canonical(m) for m in (args.methods or ["grad_cam"])))
    options = _method_options(args.option, methods)
    if args.scale is not None and str(args.preprocess).lower() != "none":
        raise UsageError(f"--preprocess {args.preprocess} and --scale {args.scale:g}: give one of them "
                         "(--scale S is --preprocess S)")
    mode = args.preprocess if args.scale is None else args.scale
    preprocess.affine(mode)  # a bad name fails before the model loads
    names = class_names(args.labels)
    paths = image_paths(args.images)
    model = load_model(args.model)
    outputs = _output_count(model)
    check_class_count(args.labels, outputs)
    note = labels_note(args.labels, outputs)
    if note:
        log(note)
    height, width, channels = model_input(model)
    originals = [read_image(p) for p in paths]
    shown = [fit_to_model(im, height, width, channels) for im in originals]
    target = None if args.target is None else class_index(args.target, names)
    out = Path(args.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    stems = _unique_stems(paths)

    from tqdm.auto import tqdm

    groups = _same_size_groups(shown)
    explanations = {m: [None] * len(paths) for m in methods}
    steps = tqdm(total=len(methods) * len(paths), desc="tfcam explain", unit="image",
                 disable=len(methods) * len(paths) < 4 or None)
    for method in methods:
        for group in groups:
            # a batch at a time, so the bar moves; tfcam.explain reuses its compiled explainer
            for start in range(0, len(group), args.batch_size):
                chunk = group[start:start + args.batch_size]
                batch = preprocess.apply(np.stack([shown[k] for k in chunk]), mode)
                ex = tfcam.explain(model, batch, method=method, layer=args.layer, targets=target,
                                   batch_size=args.batch_size, progress=False, **options.get(method, {}))
                for position, k in enumerate(chunk):
                    explanations[method][k] = _one(ex, position)
                steps.update(len(chunk))
    steps.close()

    rows = _write_files(out, stems, paths, originals, explanations, names)
    _write_grids(out, stems, shown, explanations, names, groups)
    with open(out / "explanations.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        log(f"{row['image']}  {row['method']}: {row['class']} (score {row['score']:.3g}) -> {row['overlay']}")
    plural = "s" if len(rows) != 1 else ""
    log(f"wrote {len(rows)} overlay{plural} and map{plural}, grid.png and explanations.csv to {out}")
    return 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _output_count(model) -> int | None:
    """The number of classes of a one-output classifier (batch, classes), else None."""
    shapes = [tuple(t.shape) for t in model.outputs]
    return shapes[0][-1] if len(shapes) == 1 and len(shapes[0]) == 2 else None


def _method_options(pairs, methods) -> dict:
    """{method: {option: value}} from KEY=VALUE pairs, each given to the methods that take it."""
    from tfcam import registry
    from tfcam.options import method_options

    options: dict[str, dict] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {pair}: write KEY=VALUE, e.g. --option max_channels=32")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a word: a string option such as channel_ranking=std
        takers = [m for m in methods if key.strip() in method_options(registry.lookup(m))]
        if not takers:
            raise UsageError(f"--option {key}: none of {methods} takes it (`tfcam methods` lists "
                             "each method's options)")
        for method in takers:
            options.setdefault(method, {})[key.strip()] = value
    return options


def _one(ex, position: int):
    """Image `position` of explanation `ex`: its map, class and score, and the layer."""
    target = None if ex.targets is None else int(ex.targets[position])
    return {"map": np.asarray(ex.maps[position], "float32"), "target": target,
            "score": float(ex.scores[position]), "layer": ex.layer, "method": ex.method}


def _same_size_groups(images) -> list[list[int]]:
    """Image positions grouped by size (one model call per group)."""
    groups: dict[tuple, list[int]] = {}
    for k, image in enumerate(images):
        groups.setdefault(image.shape, []).append(k)
    return list(groups.values())


def _unique_stems(paths) -> list[str]:
    """File stems, numbered where two images share one."""
    stems = [p.stem for p in paths]
    seen: dict[str, int] = {}
    for k, stem in enumerate(stems):
        if stems.count(stem) > 1:
            seen[stem] = seen.get(stem, 0) + 1
            stems[k] = f"{stem}-{seen[stem]}"
    return stems


def _write_files(out, stems, paths, originals, explanations, names) -> list[dict]:
    """Per image and method: the overlay at the photo's own size (PNG) and the map at the
    model's input size (.npy); one row each for explanations.csv."""
    from skimage import io, transform

    from tfcam.visualize import overlay
    from tfcam.visualize.grid_figure import class_text

    rows = []
    for method, per_image in explanations.items():
        for k, found in enumerate(per_image):
            png, npy = out / f"{stems[k]}.{method}.png", out / f"{stems[k]}.{method}.npy"
            np.save(npy, found["map"])
            heat = transform.resize(found["map"], originals[k].shape[:2], order=1, preserve_range=True)
            io.imsave(png, overlay(originals[k][None], heat[None])[0], check_contrast=False)
            rows.append({"image": str(paths[k]), "method": method, "layer": found["layer"] or "",
                         "target": "" if found["target"] is None else found["target"],
                         "class": class_text(found["target"], None, names) or "-",
                         "score": found["score"], "overlay": str(png), "map": str(npy)})
    return rows


def _write_grids(out, stems, shown, explanations, names, groups) -> None:
    """grid.png: images × methods (one figure per image size when the sizes differ)."""
    from tfcam.visualize import grid

    for n, group in enumerate(groups):
        images = np.stack([shown[k] for k in group])
        columns = {}
        for method, per_image in explanations.items():
            found = [per_image[k] for k in group]
            layer = found[0]["layer"]
            title = f"{method}\n@ {layer.rsplit('/', 1)[-1]}" if layer else method
            columns[title] = _Column(found)
        fig = grid(images, columns, labels=names, image_titles=[stems[k] for k in group])
        name = "grid.png" if len(groups) == 1 else f"grid-{n + 1}.png"
        fig.savefig(out / name, dpi=100, bbox_inches="tight")


class _Column:
    """One method's maps, classes and scores for a group of images, as `grid` reads them."""

    def __init__(self, found):
        self.maps = np.stack([f["map"] for f in found])
        targets = [f["target"] for f in found]
        self.targets = None if None in targets else np.asarray(targets)
        self.scores = np.asarray([f["score"] for f in found], "float32")
