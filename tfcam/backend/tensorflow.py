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
    return tf.function(lambda *args: _held(ref)(prepare(*args), training=False),
                       reduce_retracing=True)


def _held(ref: weakref.ref):
    model = ref()
    if model is None:  # a cache kept this function longer than its model
        raise RuntimeError("the model of this compiled forward has been garbage collected")
    return model


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


class _ImageSummaryWriter:
    """TensorBoard image summaries in a folder, written the way `tf.summary.image` writes
    them (a string tensor [width, height, png...] tagged for the "images" plugin) with
    TensorFlow's own ops: TensorFlow 2.21 no longer installs TensorBoard, and its
    `tf.summary.image` is then an error, while `tf.summary.write` always works."""

    def __init__(self, directory):
        self.writer = tf.summary.create_file_writer(str(directory))

    def write(self, tag: str, pngs, size, step: int, description: str = "") -> None:
        """`pngs`: PNG-encoded images of `size` (height, width), shown under `tag` at `step`."""
        height, width = size
        tensor = tf.constant([str(width).encode(), str(height).encode(), *pngs])
        metadata = tf.compat.v1.SummaryMetadata(summary_description=description)
        metadata.plugin_data.plugin_name = "images"  # TensorBoard's image plugin, version 0
        with self.writer.as_default():
            tf.summary.write(tag, tensor, step=step, metadata=metadata)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def image_summary_writer(directory):
    """A TensorBoard image-summary writer for `directory` (`write(tag, pngs, size, step)`)."""
    return _ImageSummaryWriter(directory)
