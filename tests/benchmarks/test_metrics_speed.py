"""`python -m benchmarks.metrics_speed` on tiny sizes: every metric runs, prints its ratio,
and its model passes are counted right (no timing is asserted)."""

import pytest

from benchmarks.metrics_speed import PassCounter, main

N, STEPS, P, T, P_SENS, CHANNELS = 2, 4, 3, 2, 1, 2
TINY = ["--images", str(N), "--size", "16", "--batch-size", "4", "--steps", str(STEPS),
        "--perturbations", str(P), "--percentages", str(T),
        "--sensitivity-perturbations", str(P_SENS), "--score-cam-channels", str(CHANNELS),
        "--repeats", "1"]
COPIES = N * (1 + P_SENS)  # the images max_sensitivity explains: 4, one explain batch of 4


def test_every_metric_runs_prints_a_ratio_and_counts_its_passes(capsys):
    rows = {row.name: row for row in main(TINY)}
    out = capsys.readouterr().out

    passes_per_image = {
        "deletion_insertion": 1 + 2 * STEPS,  # the image, then every step of both curves
        "infidelity": 1 + P,
        "road": 1 + T,
        "completeness": 2,  # the image and the baseline
        # 1 forward for the explained class, then (1 + P) explanations
        "max_sensitivity saliency": 1 + (1 + P_SENS),
        "max_sensitivity grad_cam": 1 + (1 + P_SENS),
        # + the masked copies: CHANNELS per explained image
        "max_sensitivity score_cam": 1 + (1 + P_SENS) * (1 + CHANNELS),
        "sparseness": 0,
        "complexity": 0,
    }
    assert {name: row.passes / N for name, row in rows.items()} == passes_per_image

    # Score-CAM explains the copies in batches: one explain batch of all 4 images, their
    # 4 x 2 masked inputs in one call (not one call per perturbation per image)
    counts = rows["max_sensitivity score_cam"].counts
    assert counts["forward"] == (1, COPIES)
    assert counts["pair_scores"] == (1, COPIES * CHANNELS)
    assert rows["max_sensitivity saliency"].counts["traced"] == (1, COPIES)

    for name, row in rows.items():
        line = next(x for x in out.splitlines() if x.startswith(name + " "))
        if passes_per_image[name]:
            assert row.ratio("wall") > 0 and row.ratio("cpu") > 0
            assert f"{row.ratio('wall'):.3f}" in line
        else:
            assert row.ratio("wall") is None and line.rstrip().endswith("-")
    road = rows["road"]  # the imputation is timed inside the run, a part of it
    assert 0 < road.wall["imputation"] <= road.wall["metric"]
    assert "of which imputation (host)" in out
    assert "deletion + insertion" in out and "ratio" in out  # the historical lines


def test_metrics_option_chooses_and_rejects(capsys):
    rows = main([*TINY, "--metrics", "completeness,sparseness"])
    assert [r.name for r in rows] == ["completeness", "sparseness"]
    with pytest.raises(SystemExit):
        main([*TINY, "--metrics", "completness"])
    assert "--metrics: unknown completness; choose from" in capsys.readouterr().err


def test_the_counter_counts_rows_of_compiled_calls_and_restores_the_backend():
    import keras
    import numpy as np

    from tfcam import backend

    before = backend.compile_function
    with PassCounter() as counter:
        fn = backend.compile_function(lambda x: keras.ops.sum(x), [])
        counts = counter.during(lambda: (fn(np.zeros((5, 2, 2, 1), "float32")),
                                         fn(np.zeros((3, 2, 2, 1), "float32"))))
    assert counts == {"<lambda>": (2, 8)}
    assert backend.compile_function is before
