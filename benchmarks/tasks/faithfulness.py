"""Faithfulness: Average Drop %, Increase in Confidence % (Chattopadhay et al., WACV 2018,
Grad-CAM++), deletion and insertion AUC with their curves (Petsiuk et al., BMVC 2018, RISE).
Win % is computed across methods in the report, from the per-image drops.

Masked pixels take ``metrics.masking.fill`` (:mod:`tfcam.fill`; the ``fill`` column of every
row): the Average Drop / Increase masks and deletion's fill. Insertion keeps RISE's
blurred start whatever the fill. ``original_confidence`` rows hold each image's unmasked
probability Y of the explained class (the denominator of Average Drop): where it is
saturated (1.0) masking either destroys the confidence or leaves it whole. Every row names its
independent unit (``source``: the image's id; on grids the photo whose class is explained,
which several grids may share: :func:`benchmarks.tasks.grid_pointing.sources`)."""
from __future__ import annotations

from dataclasses import dataclass

from .. import api, maps
from ..driver import Output
from ..method_adapters import fill_label, masking_fill
from ..tasks.grid_pointing import sources

name = "faithfulness"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images", "fill", "source")
CURVES = ("deletion", "insertion")


@dataclass
class Settings:
    average_drop: bool = True
    increase_in_confidence: bool = True
    # Steps of each curve (0: not computed): each moves ceil(H·W / steps) pixels, so 224 steps
    # are RISE's 224 pixels per step at 224×224 and the same fraction of a smaller image.
    deletion_steps: int = 16
    insertion_steps: int = 16
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

    def add(metric, values):
        rows.extend({**base, "image": int(i), "source": u, "metric": metric, "value": float(v)}
                    for i, u, v in zip(idx, units, values))

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
    return Output(rows + maps.timing_rows(run, unit, value), curves)
