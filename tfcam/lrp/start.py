"""Output relevance: where the backward walk starts.

For a class target c over C classes (logits S, ŷ = softmax(S)):

| start | vector at the logits |
|---|---|
| "one_hot" | `e_c` |
| "logit" | `e_c · S_c` (relevance in the units of the score) |
| "clrp" | `+1` at c, `−1/C` elsewhere (contrastive LRP, as in Relevance-CAM) |
| "clrp_zero_sum" | `+1` at c, `−1/(C−1)` elsewhere: the vector sums to zero |
| "sglrp" | `ŷ_c (1 − ŷ_c)` at c, `−ŷ_c ŷ_n` elsewhere (softmax-gradient LRP) |

LRP is linear in the starting vector, so every variant is one backward pass. "clrp" is the
Relevance-CAM authors' code: the others together get `−(C−1)/C`, so the start sums to
`1/C` and a class-independent part of the relevance (what every class shares) is left in.
"clrp_zero_sum" gives the target exactly what the mean of the other classes takes away:
target minus the average other class, so relevance shared by all classes cancels.

For a callable target `score(outputs) -> (N,)` the walk starts at every model output `y`
with `y ⊙ ∂score/∂y` ("one_hot" and "logit"; the score's own decomposition when it is a
linear read-out of the outputs); contrastive starts need a class.
"""

from __future__ import annotations

from keras import ops

from tfcam import backend, targets

STARTS = ("one_hot", "logit", "clrp", "clrp_zero_sum", "sglrp")


def check_start(start: str) -> str:
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r}; choose one of {list(STARTS)}")
    return start


def start_vector(start: str, logits, indices):
    """(N, C) output relevance for classes `indices` (N,) given `logits` (N, C)."""
    num_classes = logits.shape[-1]
    one_hot = ops.one_hot(indices, num_classes, dtype=logits.dtype)
    if start == "one_hot":
        return one_hot
    if start == "logit":
        return one_hot * logits
    if start == "clrp":
        return one_hot - (1.0 - one_hot) / num_classes
    if start == "clrp_zero_sum":
        return one_hot - (1.0 - one_hot) / max(num_classes - 1, 1)
    if start == "sglrp":
        probs = ops.softmax(logits, axis=-1)
        p_c = ops.sum(probs * one_hot, axis=-1, keepdims=True)
        return ops.where(one_hot > 0, p_c * (1.0 - p_c), -p_c * probs)
    raise ValueError(f"unknown start {start!r}; choose one of {list(STARTS)}")


def score_gradients(program, env, spec):
    """∂(Σ score)/∂y for each model output y of a callable target."""
    outputs = [env[k] for k in program.output_keys]

    def total(values):
        model_outputs = values[0] if len(values) == 1 else list(values)
        return ops.sum(spec.score_fn(model_outputs)), None

    _, _, grads = backend.value_and_grad(total)(outputs)
    return grads


def seeds(program, env, spec, indices, start: str, gradient: bool = False):
    """({key: relevance}, scores (N,), resolved targets (N,)) to start the walk from.

    `gradient=True` starts a gradient walk (Guided Backprop): `e_c`, or `∂score/∂y`.
    """
    scores, resolved = targets.scores_and_targets(program, env, spec, indices)
    if spec.is_callable:
        if start not in ("one_hot", "logit"):
            raise ValueError(
                f"start={start!r} contrasts one class with the others and needs a class "
                "target; a callable target supports start='one_hot' or 'logit'."
            )
        grads = score_gradients(program, env, spec)
        if not gradient:
            grads = [env[k] * g for k, g in zip(program.output_keys, grads)]
        return dict(zip(program.output_keys, grads)), scores, resolved
    logits = env[program.logit_key]
    vector = start_vector("one_hot" if gradient else start, logits, resolved)
    return {program.logit_key: vector}, scores, resolved
