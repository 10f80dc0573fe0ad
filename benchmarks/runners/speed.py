"""Speed: seconds per image of each method on one batch (best of ``repeats``; the first call,
which builds the explainer and traces/compiles, is reported apart), and the ratio to one
compiled forward+backward pass of the same model and batch."""
from __future__ import annotations

import time

import numpy as np

from benchmarks.context import error_text
from benchmarks.explainers import make_explainer

TASK = "speed"


def forward_backward(model):
    """A compiled ``f(images, targets)``: the gradient of the target logits' sum w.r.t. the
    input (one forward and one backward pass)."""
    import keras
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def f(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = model(x, training=False)
                s = tf.reduce_sum(tf.gather(y, t, axis=1, batch_dims=1))
            return tape.gradient(s, x)

        return lambda x, t: f(tf.constant(x), tf.constant(t, dtype=tf.int32)).numpy()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def score(x, t):
            y = model(x, training=False)
            return jnp.sum(jnp.take_along_axis(y, t[:, None], axis=1))

        g = jax.jit(jax.grad(score))
        return lambda x, t: np.asarray(g(jnp.asarray(x), jnp.asarray(t)))
    raise NotImplementedError(f"no forward+backward timing for the {backend} backend")


def _best_of(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(ctx, opts: dict, bar=None) -> None:
    scfg = ctx.cfg.metrics.speed
    n = int(opts.get("n_images", scfg.get("n_images", 8)))
    repeats = int(opts.get("repeats", scfg.get("repeats", 3)))
    idx = np.arange(min(n, len(ctx.data)))
    x, t = ctx.data.images[idx], ctx.targets[idx].astype(np.int32)
    fb_unit = ctx.unit(TASK, "forward_backward", "input", "ref")
    fb_seconds = None
    if not ctx.store.is_done(fb_unit):
        fb = forward_backward(ctx.model)
        fb(x, t)
        fb_seconds = _best_of(lambda: fb(x, t), repeats) / len(idx)
        row = {**ctx.base_row(TASK), "method": "forward_backward", "library": "keras",
               "layer_choice": "input", "image": -1, "metric": "seconds_per_image", "value": fb_seconds}
        ctx.store.write(fb_unit, [row])
    if fb_seconds is None:
        table = ctx.store.table()
        sel = table[(table.task == TASK) & (table.model == ctx.model_name) & (table.method == "forward_backward")]
        fb_seconds = float(sel.value.iloc[0]) if len(sel) else np.nan
    for method_cfg, choice, layer in ctx.plan(opts):
        unit = ctx.unit(TASK, method_cfg.id, choice, "all")
        if bar is not None:
            bar.set_postfix_str(f"{ctx.model_name} speed {method_cfg.id} @ {choice}")
        if ctx.store.is_done(unit):
            if bar is not None:
                bar.update(1)
            continue
        base = {**ctx.base_row(TASK, method_cfg, choice, layer), "image": -1}
        try:
            if layer is not None and str(layer).startswith("!"):
                raise KeyError(layer[1:])
            ids = ctx.data.ids[idx]
            t0 = time.perf_counter()
            # a fresh explainer (its own batch size, so tfcam's explainer cache does not hand
            # back one compiled earlier in the run): the first call includes tracing
            explainer = make_explainer(method_cfg, ctx.model, layer, batch_size=len(idx))
            explainer(x, t, ids)
            first = time.perf_counter() - t0
            per_image = _best_of(lambda: explainer(x, t, ids), repeats) / len(idx)
            rows = [{**base, "metric": "first_call_seconds", "value": first},
                    {**base, "metric": "seconds_per_image", "value": per_image},
                    {**base, "metric": "ratio_to_forward_backward", "value": per_image / fb_seconds}]
        except Exception as e:  # noqa: BLE001
            if ctx.cfg.get("fail_fast", False):
                raise
            rows = [{**base, "metric": "error", "error": error_text(e)}]
        ctx.store.write(unit, rows)
        if bar is not None:
            bar.update(1)


def count_units(ctx, opts) -> int:
    return len(ctx.plan(opts))
