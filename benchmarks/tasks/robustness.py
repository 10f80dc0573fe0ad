"""Robustness: infidelity and max-sensitivity (Yeh et al., "On the (In)fidelity and Sensitivity
of Explanations", NeurIPS 2019), and completeness (the attribution axiom) where a method has
input-space attributions. Protocols: docs/benchmarks.md, *Robustness and complexity*.

It scores the maps the map tasks share (:mod:`benchmarks.maps`), on the first ``n_images``
of their images only (each image costs model passes), one unit per method × layer × batch:

* **infidelity** (`tfcam.metrics.infidelity`), once per perturbation of ``perturbations``
  (the ``perturbation`` column). Φ (the ``phi`` column) is the method's map at the input
  resolution, broadcast over the channels (Captum's rule for a one-channel attribution: every
  channel of a pixel gets the pixel's value); with ``phi: attributions`` a method's own
  unnormalized ``Explanation.attributions`` where it has them (input-space tfcam methods).
  ``normalize`` (Yeh et al.'s optimal scale β) makes the value independent of Φ's scale, so
  [0, 1] maps and raw attributions are scored alike. A square is removed to the run's masking
  fill (``metrics.masking.fill``, the ``fill`` column), the pixels every masking metric gets.
* **max_sensitivity** (`tfcam.metrics.max_sensitivity`): the method is run again on
  ``sensitivity_perturbations`` copies of each image, each moved by at most ``radius``
  per value, through the unit's own explainer in batches of ``batch_size`` (copies of several
  images share a call); Φ as for infidelity, each copy explained for its image's class.
* **completeness** (`tfcam.metrics.completeness`): only where the method has attributions;
  baseline its ``options.baseline`` (Integrated Gradients') or 0 (black).

Every row names its independent unit (``source``, as in localization and faithfulness). The
perturbations of image i are drawn from ``np.random.default_rng([seed, i, draw])`` with i its
position in the unit's batch: every method sees the same perturbations of an image (paired)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import api, maps
from ..driver import Output, error_row
from ..method_adapters import fill_label, masking_fill, unit_maps
from ..tasks.grid_pointing import sources

name = "robustness"
family = maps.FAMILY
record_errors = True
columns = ("first_image", "n_images", "fill", "source", "perturbation", "phi")
PHI = ("maps", "attributions")
PERTURBATIONS = ("square", "gaussian", "noisy_baseline")


@dataclass
class Settings:
    infidelity: bool = True
    perturbations: list[str] = field(default_factory=lambda: ["square"])  # square | gaussian | noisy_baseline
    n_perturbations: int = 32       # infidelity's draws per image and perturbation
    noise_std: float = 0.2          # gaussian / noisy_baseline: std in the inputs' units
    max_square: int | None = None   # square: largest side (null: Yeh et al.'s 10/28 of the side)
    normalize: bool = True          # Yeh et al.'s optimal scale β (Captum's normalize)
    phi: str = "maps"               # maps | attributions (the method's own, where it has them)
    max_sensitivity: bool = True
    radius: float = 0.02            # L∞ radius, inputs' units (Captum's sensitivity_max)
    sensitivity_perturbations: int = 10   # Captum's n_perturb_samples
    completeness: bool = True       # methods with input-space attributions only
    n_images: int | None = 16       # the first images of the maps' (null: all of them)
    seed: int = 0


def check(s) -> None:
    """A ValueError naming the setting and its choices, before any unit runs."""
    if str(s.phi) not in PHI:
        raise ValueError(f"metrics.robustness.phi must be one of {PHI}; received {s.phi!r}")
    bad = [str(p) for p in s.perturbations if str(p) not in PERTURBATIONS]
    if bad:
        raise ValueError(f"metrics.robustness.perturbations: unknown {bad}; choose from {PERTURBATIONS}")


def limit(run) -> int:
    """How many of the maps' first images robustness scores."""
    n = run.settings(name).n_images
    return len(maps.index(run)) if not n else min(int(n), len(maps.index(run)))


def units(run) -> list:
    check(run.settings(name))
    fill = fill_label(masking_fill(run.cfg))
    n = limit(run)
    out = [u for u in maps.units(run, name, run.plan(name), 4) if u.payload[3][0] < n]
    for unit in out:
        unit.row["fill"] = fill
    return out


def explain_function(run, method_cfg, layer, use_attributions: bool):
    """``explain(images, targets) -> Φ`` for max-sensitivity: the unit's explainer (built once
    per method × layer, as for the maps), called on whole batches of images and copies; Φ its
    [0, 1] maps, or its attributions when ``use_attributions`` and it has them."""
    explainer = run.explainer(method_cfg, layer)
    if isinstance(explainer, Exception):
        raise explainer

    def explain(images, targets):
        out = unit_maps(explainer(images, np.asarray(targets), None), len(images), images.shape[1:3])
        attributions = maps.attributions(explainer, out.shape) if use_attributions else None
        return out if attributions is None else attributions
    return explain


def evaluate(run, unit, inputs) -> Output:
    value = inputs[unit.inputs[0]]
    method_cfg, _, layer, batch_idx = unit.payload
    s = run.settings(name)
    m = api.metrics()
    keep = np.flatnonzero(np.asarray(batch_idx) < limit(run))
    idx = np.asarray(batch_idx)[keep]
    images, targets = run.data.images[idx], np.asarray(run.targets)[idx]
    attributions = None if value.attributions is None else value.attributions[keep]
    use_attributions = str(s.phi) == "attributions" and attributions is not None
    phi = attributions if use_attributions else value.maps[keep]
    phi_label = "attributions" if use_attributions else "maps"
    units_ = sources(run.data, idx, targets)
    bs = int(run.cfg.get("batch_size", 16))
    base = unit.row
    rows = []

    def add(metric, values, **columns):
        rows.extend({**base, "image": int(i), "source": u, "metric": metric, "value": float(v), **columns}
                    for i, u, v in zip(idx, units_, values))

    def part(metric, compute, **columns):
        """One metric's rows; its failure is an error row of its own (the others still count)."""
        try:
            add(metric, compute().values, **columns)
        except Exception as e:
            if run.fail_fast:
                raise
            row = error_row(unit, e, **columns)
            rows.append({**row, "error": f"{metric}: {row['error']}"[:300]})

    if s.infidelity:
        from tfcam.fill import fill_like  # a removed square becomes the run's masking fill
        fill = fill_like(masking_fill(run.cfg), images)
        for kind in [str(p) for p in s.perturbations]:
            part("infidelity", lambda kind=kind: m.infidelity(
                run.model, images, phi, targets, perturbation=kind, n_perturbations=int(s.n_perturbations),
                noise_std=float(s.noise_std), max_square=s.max_square, baseline=fill,
                normalize=bool(s.normalize), seed=int(s.seed), batch_size=bs), perturbation=kind, phi=phi_label)
    # a map keyed by the image's id (the random reference) has no sensitivity to the pixels: a
    # perturbed copy has no id, and its "sensitivity" would be the noise of batch positions
    keyed_by_id = getattr(run.explainer(method_cfg, layer), "keyed_by_image_id", False)
    if s.max_sensitivity and not keyed_by_id:
        explain = explain_function(run, method_cfg, layer, use_attributions)
        part("max_sensitivity", lambda: m.max_sensitivity(
            run.model, images, explain, targets=targets, radius=float(s.radius),
            n_perturbations=int(s.sensitivity_perturbations), seed=int(s.seed), batch_size=bs), phi=phi_label)
    if s.completeness and attributions is not None:
        baseline = (method_cfg.get("options") or {}).get("baseline", 0.0)
        part("completeness", lambda: m.completeness(run.model, images, attributions, targets, baseline=baseline,
                                                     batch_size=bs), phi="attributions")
    return Output(rows + maps.timing_rows(run, unit, value))
