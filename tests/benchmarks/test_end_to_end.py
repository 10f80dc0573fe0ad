"""One tiny sweep through the real app: ``python -m benchmarks -m method=grad_cam,tkv_grad_cam``
on a tiny VGG trained 1 epoch on 16 images of 32×32."""
import os
import subprocess
import sys

import keras

from benchmarks.results import read_table
from tests.benchmarks.conftest import REPO, TINY


def test_tiny_sweep(tmp_path, cache_dir):
    env = {**os.environ, "TFCAM_CACHE": str(cache_dir), "TFCAM_OUTPUTS": str(tmp_path),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    overrides = [o for o in TINY if not o.startswith("model")] + [
        "model=vgg_small", "model.widths=[4,8,8,16,16]", "experiment=layers", "layer=last",
        "dataset.n_images=8", "dataset.pair_fraction=0.25",
    ]
    cmd = [sys.executable, "-m", "benchmarks", "-m", "method=grad_cam,tkv_grad_cam", *overrides]
    proc = subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sweep = tmp_path / "layers"
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "results.csv").exists())
    assert len(jobs) == 2
    for job in jobs:
        assert (job / "summary.md").exists()
    table = read_table(sweep / "results.csv")  # aggregated by the sweep callback
    assert list((sweep / "figures").glob("heatmaps_*.png")), "the sweep summary has the heatmap grid"
    tf_backend = keras.backend.backend() == "tensorflow"
    methods = {"grad_cam", "tkv_grad_cam"} if tf_backend else {"grad_cam"}
    loc = table[(table.task == "localization") & (table.metric == "energy_pointing_game")]
    assert set(loc.method) == methods and loc.value.between(0, 1).all()
    assert loc.groupby("method").image.nunique().eq(8).all()
    if not tf_backend:  # tf-keras-vis needs TensorFlow: its rows say why it failed
        tkv = table[table.method == "tkv_grad_cam"]
        assert len(tkv) and (tkv.metric == "error").all() and tkv.error.str.len().gt(0).all()
    faith = table[table.task == "faithfulness"]
    assert {"average_drop", "deletion", "insertion"} <= set(faith.metric)
    assert not table.duplicated(["task", "model", "method", "layer_choice", "image", "metric", "weights",
                                 "first_image", "delta"]).any()
    summary = (sweep / "summary.md").read_text()
    assert "Localization" in summary and "tkv_grad_cam" in summary
