"""Faithfulness: Average Drop %, Increase in Confidence % (Chattopadhay et al., WACV 2018,
Grad-CAM++), deletion and insertion AUC with their curves (Petsiuk et al., BMVC 2018, RISE),
and ROAD's MoRF and LeRF curves (Rong et al., ICML 2022; `tfcam.metrics.road`: the removed
pixels filled by noisy linear imputation) when ``road_percentages`` names any, on the first
``road_n_images`` images (its imputation solves a sparse system per image and percentage on
the host). Win % is computed across methods in the report, from the per-image drops.

Masked pixels take ``metrics.masking.fill`` (:mod:`tfcam.fill`; the ``fill`` column of every
row): the Average Drop / Increase masks and deletion's fill. Insertion keeps RISE's
blurred start whatever the fill. ``original_confidence`` rows hold each image's unmasked
probability Y of the explained class (the denominator of Average Drop): where it is
saturated (1.0) masking either destroys the confidence or leaves it whole. Every row names its
independent unit (``source``: the image's id; on grids the photo whose class is explained,
which several grids may share: :func:`benchmarks.tasks.grid_pointing.sources`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import api, maps
from ..driver import Output, error_row
from ..method_adapters import fill_label, masking_fill
from ..tasks.grid_pointing import sources

name = "faithfulness"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images", "fill", "source")
CURVES = ("deletion", "insertion")
ROAD_ORDERS = ("morf", "lerf")   # curves road_morf, road_lerf


@dataclass
class Settings:
    average_drop: bool = True
    increase_in_confidence: bool = True
    # Steps of each curve (0: not computed): each moves ceil(H·W / steps) pixels, so 224 steps
    # are RISE's 224 pixels per step at 224×224 and the same fraction of a smaller image.
    deletion_steps: int = 16
    insertion_steps: int = 16
    # ROAD (Rong et al. 2022): shares of pixels removed, in percent ([]: not computed;
    # metrics=full: 10, 20, ..., 90 as pytorch-grad-cam), the imputation's noise (the
    # authors' 0.01, inputs' units) and the images it scores (the first; null: all)
    road_percentages: list[float] = field(default_factory=list)
    road_noise_std: float = 0.01
    road_n_images: int | None = None
    n_images: int | None = None     # null: every image


def units(run) -> list:
    # The fill on every row of the unit (its error row too); an unknown fill stops the run
    # here, before any unit.
    fill = fill_label(masking_fill(run.cfg))
    out = maps.units(run, name, run.plan(name), 1)
    for unit in out:
        unit.row["fill"] = fill
    return out


def evaluate(run, unit, inputs) -> Output:
    value = inputs[unit.inputs[0]]
    _, _, _, idx = unit.payload
    m = api.metrics()
    s = run.settings(name)
    images = run.data.images[idx]
    targets = run.targets[idx]
    batch = value.maps
    fill = masking_fill(run.cfg)
    base = unit.row
    rows, curves = [], []

    units = sources(run.data, idx, targets)

    def add(metric, values, at=None):
        at = range(len(idx)) if at is None else at   # positions in the batch
        rows.extend({**base, "image": int(idx[k]), "source": units[k], "metric": metric, "value": float(v)}
                    for k, v in zip(at, values))

    if s.average_drop or s.increase_in_confidence:
        # One pass over original and masked images serves both metrics.
        drop = m.average_drop(run.model, images, batch, targets, fill=fill)
        # Y per image: saturated confidences (1.0) leave Average Drop little to tell apart
        add("original_confidence", drop.extras["original"])
        if s.average_drop:
            add("average_drop", drop.values)
        if s.increase_in_confidence:
            original, masked = drop.extras["original"], drop.extras["masked"]
            add("increase_in_confidence", 100.0 * (original < masked))
    steps = {c: int(getattr(s, f"{c}_steps") or 0) for c in CURVES}
    wanted = [c for c in CURVES if steps[c]]
    # one pass over both curves when their step counts agree
    groups = [tuple(wanted)] if len({steps[c] for c in wanted}) == 1 else [(c,) for c in wanted]
    curve_base = {k: base[k] for k in ("task", "model", "method", "library", "layer_choice", "layer")}
    for which in groups:
        # deletion removes pixels to the fill; insertion starts from RISE's blur (its default)
        for res in m.deletion_insertion(run.model, images, batch, targets, steps=steps[which[0]], which=which,
                                        deletion_fill=fill):
            add(res.name, res.values)
            fraction = res.extras["fraction"]
            for i, curve in zip(idx, res.curves):
                for s_, v in enumerate(curve):
                    curves.append(curve_base | {"image": int(i), "curve": res.name, "step": s_,
                                                "fraction": float(fraction[s_]), "value": float(v)})
    if s.road_percentages:
        try:  # a ROAD failure is its own error row: the batch's other metrics still count
            curves += road(run, s, images, batch, targets, idx, add, curve_base)
        except Exception as e:
            if run.fail_fast:
                raise
            row = error_row(unit, e)
            rows.append({**row, "error": f"road: {row['error']}"[:300]})
    return Output(rows + maps.timing_rows(run, unit, value), curves)


def road(run, s, images, batch, targets, idx, add, curve_base) -> list:
    """ROAD's MoRF and LeRF values (rows through ``add``) on the batch's images among the first
    ``road_n_images``; returns their curves (``fraction``: the share of pixels removed)."""
    limit = int(s.road_n_images) if s.road_n_images else len(run.data)
    at = np.flatnonzero(np.asarray(idx) < limit)
    if not len(at):
        return []
    curves = []
    h, w = images.shape[1:3]
    for order in ROAD_ORDERS:
        res = api.metrics().road(run.model, images[at], batch[at], targets[at], order=order,
                                 percentages=[float(p) for p in s.road_percentages],
                                 noise_std=float(s.road_noise_std), batch_size=int(run.cfg.get("batch_size", 16)))
        add(res.name, res.values, at)
        fraction = res.extras["removed_pixels"] / float(h * w)
        for k, curve in zip(at, res.curves):
            curves += [curve_base | {"image": int(idx[k]), "curve": res.name, "step": t, "fraction": float(fraction[t]),
                                     "value": float(v)} for t, v in enumerate(curve)]
    return curves
