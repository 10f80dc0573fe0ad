"""TensorFlow: GradientTape for gradients, tf.function for compilation."""

import weakref

import tensorflow as tf


def value_and_grad(fn):
    def wrapped(x, *rest):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value, aux = fn(x, *rest)
        grads = tape.gradient(value, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, aux, grads

    return wrapped


def vjp(fn, *primals):
    with tf.GradientTape() as tape:
        tape.watch(list(primals))
        outputs = fn(*primals)

    def pullback(cotangent):
        grads = tape.gradient(
            outputs, list(primals), output_gradients=cotangent,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        return list(grads)

    return outputs, pullback


def compile_function(fn, variables):
    # Variables are read inside the graph at run time, so new weights need no retrace.
    del variables
    return tf.function(fn)


def compile_forward(model, prepare=None):
    # Held weakly: a cache keyed weakly on the model may keep this function. Variables are
    # read inside the graph at run time, so new weights need no retrace.
    ref = weakref.ref(model)
    prepare = prepare or _identity
    return tf.function(lambda *args: ref()(prepare(*args), training=False),
                       reduce_retracing=True)


def _identity(x):
    return x


def normal(shape, seed, dtype="float32"):
    """Standard normal samples from a (2,) int seed tensor: the same seed gives the same noise."""
    return tf.random.stateless_normal(shape, seed=tf.cast(seed, "int32"), dtype=dtype)


def memory_budget(fraction: float = 0.25, cpu_bytes: int = 2 << 30) -> int:
    """Bytes a batch of perturbed inputs may use.

    TensorFlow does not report a GPU's total memory before allocating, so a GPU gets a fixed
    4 GiB (fits any current card); the CPU `cpu_bytes`. `fraction` is for JAX's signature.
    """
    del fraction
    return 4 << 30 if tf.config.list_logical_devices("GPU") else cpu_bytes
