"""Rank stability under resampling of the images (MetaQuantus' question, issue 26 §3) on built
tables: a metric that separates the methods clearly keeps its ranking (τ ≈ 1), a metric that
is pure noise does not (τ ≈ 0)."""
import numpy as np
import pandas as pd
import pytest

from benchmarks.report import findings, rank_stability, sections
from benchmarks.report.figures import make_rank_stability_plot

METHODS = ["grad_cam", "layer_cam", "relevance_cam", "saliency", "gaussian"]


def rows(n_images=24, seed=0):
    """energy_pointing_game: the methods 0.1 apart plus small noise (a clear ranking); iou: the
    same noise for every method, nothing else (no ranking at all)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_images):
        for k, method in enumerate(METHODS):
            choice = "input" if method in ("saliency", "gaussian") else "last"
            base = {"task": "localization", "model": "net", "method": method,
                    "library": "baseline" if method == "gaussian" else "tfcam", "layer_choice": choice,
                    "layer": "conv" if choice == "last" else "", "image": i, "source": f"img{i}", "error": ""}
            out.append({**base, "metric": "energy_pointing_game", "value": 0.1 * k + rng.normal(0, 0.01)})
            out.append({**base, "metric": "iou", "value": rng.uniform()})
    return out


def test_kendall_tau_b_is_scipys():
    from scipy.stats import kendalltau
    rng = np.random.default_rng(1)
    reference = rng.normal(size=6)
    samples = rng.normal(size=(20, 6))
    samples[0, :2] = samples[0, 2]          # ties
    want = [kendalltau(s, reference).statistic for s in samples]
    np.testing.assert_allclose(rank_stability.kendall_tau_b(samples, reference), want)
    assert np.isnan(rank_stability.kendall_tau_b(np.ones((1, 6)), reference)[0]), "a ranking of all ties"


def test_a_separating_metric_is_stable_and_pure_noise_is_not(table):
    got = rank_stability.rank_stability(table(rows())).set_index("metric")
    clear, noise = got.loc["energy_pointing_game"], got.loc["iou"]
    assert clear.methods == 5 and clear.units == 24
    assert clear.tau == pytest.approx(1.0, abs=1e-9) and clear.top_kept == 1.0
    # higher is better: the best is the method with the largest offset
    assert clear.top == "gaussian"
    # on one table of noise the halves' τ scatters around 0 (the split-half τ of pure noise is
    # 0 in expectation over data sets); over ten tables its mean is near 0, never near 1
    taus = [rank_stability.rank_stability(table(rows(seed=k))).set_index("metric").loc["iou"].tau
            for k in range(10)]
    assert abs(np.mean(taus)) < 0.15 and max(taus) < 0.6, taus
    assert noise.top_kept < 0.8
    # seeded: the same table gives the same numbers
    again = rank_stability.rank_stability(table(rows())).set_index("metric")
    assert again.loc["iou"].tau == noise.tau


def test_bootstrap_resamples_against_the_full_ranking_would_call_noise_stable(table):
    """Why the halves: a resample drawn with replacement shares most units with the full set,
    so on pure noise its ranking still agrees with the full one (τ about 0.5, not 0)."""
    inflated, split = [], []
    for k in range(10):
        results = table(rows(seed=k))
        iou = results[results.metric == "iou"].pivot_table(index="source", columns="method",
                                                          values="value").to_numpy()
        rng = np.random.default_rng(k)
        boot = iou[rng.integers(0, len(iou), size=(200, len(iou)))].mean(axis=1)
        inflated.append(np.nanmean(rank_stability.kendall_tau_b(boot, iou.mean(axis=0))))
        split.append(rank_stability.rank_stability(results).set_index("metric").loc["iou"].tau)
    assert np.mean(inflated) > 0.35 and abs(np.mean(split)) < 0.15


def test_the_direction_decides_the_top(table):
    """average_drop is lower-is-better: the method with the smallest values is the top."""
    r = [{**x, "task": "faithfulness", "metric": "average_drop"}
         for x in rows() if x["metric"] == "energy_pointing_game"]
    got = rank_stability.rank_stability(table(r))
    assert list(got.top) == ["grad_cam@last"]


def test_units_not_images_are_resampled(table):
    """Two images of one photo are one unit: 24 images of 12 photos give 12 units."""
    r = [{**x, "source": f"photo{x['image'] // 2}"} for x in rows()]
    got = rank_stability.rank_stability(table(r)).set_index("metric")
    assert got.loc["iou"].units == 12


def test_too_few_methods_or_units_rank_nothing(table):
    few = [x for x in rows(n_images=3)]
    assert rank_stability.rank_stability(table(few)).empty
    two = [x for x in rows() if x["method"] in METHODS[:2]]
    assert rank_stability.rank_stability(table(two)).empty


def test_the_section_finding_and_figure_say_which_metric_to_trust(table):
    results = table(rows())
    text = "\n".join(sections.rank_stability(results))
    assert "Rank stability" in text and "energy_pointing_game" in text and "iou" in text
    (line,) = findings.rank_stability_findings(results)
    assert "energy_pointing_game (τ=1.00" in line and "**cannot be trusted**" in line and "iou (τ=" in line
    fig = make_rank_stability_plot(results)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"localization: energy_pointing_game", "localization: iou"} == set(labels)


def test_methods_that_tie_on_all_units_are_not_called_unstable():
    """Regression (smoke, 2026-12-06): Increase in Confidence gave four methods the same 0/100
    counts on vgg_small, 21.875 each, and the report read τ = −0.70, "cannot be trusted": two
    halves of a tie order it oppositely by construction. Tied pairs have no order to keep: they
    are left out, and a metric on which every method ties has no τ."""
    rng = np.random.default_rng(0)
    tied = np.zeros((32, 4))
    tied[rng.permutation(32)[:7]] = 100.0   # the same images count for every method
    for k in range(4):                       # each method hits a different 7 of the 32
        tied[:, k] = np.roll(tied[:, 0], 3 * k)
    wide = pd.DataFrame(tied, columns=list("abcd"))
    assert np.allclose(wide.mean(), wide.mean().iloc[0])
    assert np.isnan(rank_stability.stability(wide, higher=True)["tau"])
    # a clear order beside the tie: τ over the ordered pairs only, 1
    wide["e"], wide["f"] = 200.0 + rng.normal(0, 1, 32), 300.0 + rng.normal(0, 1, 32)
    assert rank_stability.stability(wide, higher=True)["tau"] == pytest.approx(1.0)
