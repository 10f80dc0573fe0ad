"""JAX: jax.value_and_grad / jax.vjp for gradients, jax.jit for compilation."""

import weakref

import jax
import keras


def value_and_grad(fn):
    grad_fn = jax.value_and_grad(fn, has_aux=True)

    def wrapped(x, *rest):
        (value, aux), grads = grad_fn(x, *rest)
        return value, aux, grads

    return wrapped


def vjp(fn, *primals):
    outputs, pullback = jax.vjp(fn, *primals)
    return outputs, lambda cotangent: list(pullback(cotangent))


def compile_function(fn, variables):
    variables = list(variables)

    @jax.jit
    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return fn(*args)

    def call(*args):
        return stateless([v.value for v in variables], *args)

    return call


def compile_forward(model, prepare=None):
    # Held weakly: a cache keyed weakly on the model may keep this function. The variables'
    # values are arguments (read at each call), as in `compile_function`.
    ref = weakref.ref(model)
    prepare = prepare or _identity

    @jax.jit
    def stateless(trainable, non_trainable, *args):
        return _held(ref).stateless_call(trainable, non_trainable, prepare(*args),
                                         training=False)[0]

    def call(*args):
        m = _held(ref)
        return stateless(
            [v.value for v in m.trainable_variables],
            [v.value for v in m.non_trainable_variables],
            *args,
        )

    return call


def _identity(x):
    return x


def _held(ref: weakref.ref):
    model = ref()
    if model is None:  # a cache kept this function longer than its model
        raise RuntimeError("the model of this compiled forward has been garbage collected")
    return model


def normal(shape, seed, dtype="float32"):
    """Standard normal samples from a (2,) int seed tensor: the same seed gives the same noise."""
    return jax.random.normal(jax.numpy.asarray(seed, "uint32"), shape, dtype)


def memory_budget(fraction: float = 0.25, cpu_bytes: int = 2 << 30) -> int:
    """Bytes a batch of perturbed inputs may use: a fraction of the accelerator's memory."""
    stats = jax.devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    return int(limit * fraction) if limit else cpu_bytes


def image_summary_writer(directory):
    raise RuntimeError(
        "TensorBoard image summaries need the TensorFlow backend (KERAS_BACKEND=tensorflow); "
        "on JAX write PNG files instead (ExplanationLogger(png=True, tensorboard=False))."
    )
