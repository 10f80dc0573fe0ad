"""The map-consuming tasks (localization, faithfulness, agreement): every method × layer ×
batch of images is explained once, and each task's unit is recorded on its own."""
from __future__ import annotations

import numpy as np

from benchmarks import api
from benchmarks.context import Timer, error_text
from benchmarks.runners import faithfulness, localization

MAP_TASKS = {"localization": localization.evaluate, "faithfulness": faithfulness.evaluate}


def _agreement(ctx, method_cfg, layer_choice, layer, idx, maps, maps_cache) -> list:
    """Spearman rank correlation of a tf-keras-vis map with its tfcam counterpart."""
    partner = method_cfg.get("counterpart")
    if not partner or (str(partner), layer_choice, int(idx[0])) not in maps_cache:
        return []
    other = maps_cache[(str(partner), layer_choice, int(idx[0]))]
    if isinstance(other, Exception):
        return []
    spearman = api.metrics().spearman
    base = ctx.base_row("agreement", method_cfg, layer_choice, layer)
    return [{**base, "image": int(i), "metric": "spearman_vs_tfcam", "param": str(partner),
             "value": float(spearman(a.ravel(), b.ravel()))} for i, a, b in zip(idx, maps, other)]


def run(ctx, tasks: dict, bar=None) -> None:
    """Run the map tasks named in ``tasks`` ({name: options}) for ``ctx``'s model."""
    names = [t for t in MAP_TASKS if t in tasks]
    if not names:
        return
    index = np.arange(len(ctx.data))
    n_max = min(int((tasks[t] or {}).get("n_images", len(index)) or len(index)) for t in names)
    index = index[:n_max]
    # the union of the tasks' plans, in order; a task may run on fewer methods/layers
    plans = {t: ctx.plan(tasks[t] or {}) for t in names}
    order, seen = [], set()
    for t in names:
        for m, choice, layer in plans[t]:
            key = (str(m.id), choice)
            if key not in seen:
                seen.add(key)
                order.append((m, choice, layer))
    wanted = {t: {(str(m.id), c) for m, c, _ in plans[t]} for t in names}
    # tfcam methods first, so tf-keras-vis rows can be compared with their maps
    order.sort(key=lambda p: {"tfcam": 0, "baseline": 1}.get(str(p[0].library), 2))
    batches = ctx.batches(index)
    # Only maps that another method compares itself with are kept for the run.
    partners = {str(m.get("counterpart")) for m, _, _ in order if m.get("counterpart")}
    maps_cache: dict = {}
    for method_cfg, choice, layer in order:
        for idx in batches:
            if bar is not None:
                bar.set_postfix_str(f"{ctx.model_name} {method_cfg.id} @ {choice}")
            todo = [t for t in names if (str(method_cfg.id), choice) in wanted[t]
                    and not ctx.store.is_done(ctx.unit(t, method_cfg.id, choice, int(idx[0])))]
            agree_unit = ctx.unit("agreement", method_cfg.id, choice, int(idx[0]))
            need_agree = bool(method_cfg.get("counterpart")) and not ctx.store.is_done(agree_unit)
            if not (todo or need_agree or _partner_needed(order, method_cfg, ctx, choice, idx)):
                if bar is not None:
                    bar.update(1)
                continue
            try:
                with Timer() as timer:
                    maps = ctx.explain(method_cfg, layer, idx)
                if str(method_cfg.id) in partners:
                    maps_cache[(str(method_cfg.id), choice, int(idx[0]))] = maps
                ctx.save_figure_maps(method_cfg, choice, idx, maps)
            except Exception as e:  # noqa: BLE001 - the table says what failed
                if ctx.cfg.get("fail_fast", False):
                    raise
                if str(method_cfg.id) in partners:
                    maps_cache[(str(method_cfg.id), choice, int(idx[0]))] = e
                err = error_text(e)
                for t in todo:
                    row = {**ctx.base_row(t, method_cfg, choice, layer), "metric": "error", "error": err,
                           "image": int(idx[0]), "param": f"{len(idx)} images"}
                    ctx.store.write(ctx.unit(t, method_cfg.id, choice, int(idx[0])), [row])
                if bar is not None:
                    bar.update(1)
                continue
            for t in todo:
                try:
                    out = MAP_TASKS[t](ctx, method_cfg, choice, layer, idx, maps)
                except Exception as e:  # noqa: BLE001
                    if ctx.cfg.get("fail_fast", False):
                        raise
                    out = [{**ctx.base_row(t, method_cfg, choice, layer), "metric": "error",
                            "error": error_text(e), "image": int(idx[0]), "param": f"{len(idx)} images"}]
                rows, curves = out if isinstance(out, tuple) else (out, [])
                if t == todo[0]:  # the explanation's cost, once per batch
                    rows.append({**ctx.base_row(t, method_cfg, choice, layer), "image": -1,
                                 "param": f"batch:{int(idx[0])}:{len(idx)}",
                                 "metric": "explain_seconds_per_image", "value": timer.seconds / len(idx)})
                ctx.store.write(ctx.unit(t, method_cfg.id, choice, int(idx[0])), rows, curves)
            if need_agree:
                ctx.store.write(agree_unit, _agreement(ctx, method_cfg, choice, layer, idx, maps, maps_cache))
            if bar is not None:
                bar.update(1)


def _partner_needed(order, method_cfg, ctx, choice, idx) -> bool:
    """A tfcam map is still needed if a tf-keras-vis method compares against it."""
    for m, c, _ in order:
        if c == choice and str(m.get("counterpart") or "") == str(method_cfg.id):
            if not ctx.store.is_done(ctx.unit("agreement", m.id, c, int(idx[0]))):
                return True
    return False


def count_units(ctx, tasks: dict) -> int:
    names = [t for t in MAP_TASKS if t in tasks]
    if not names:
        return 0
    n = min(int((tasks[t] or {}).get("n_images", len(ctx.data)) or len(ctx.data)) for t in names)
    keys = {(str(m.id), c) for t in names for m, c, _ in ctx.plan(tasks[t] or {})}
    return len(keys) * len(ctx.batches(np.arange(n)))
