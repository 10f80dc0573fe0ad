"""The only part of tfcam that knows which Keras backend runs: gradients and compilation.

Everything else is written with `keras.ops`. The functions here are:

* `value_and_grad(fn)`: `fn(x, *rest) -> (scalar, aux)` becomes
  `(x, *rest) -> (scalar, aux, d scalar / d x)`; `x` may be a tensor or a list of tensors.
* `vjp(fn, *primals)`: `(outputs, pullback)` with `pullback(cotangent) -> list of gradients`.
* `compile_function(fn, variables)`: a compiled `fn` (tf.function / jax.jit). On JAX the
  variables' current values are passed in as arguments (a `keras.StatelessScope`), so the
  compiled function never bakes in stale weights and changing the weights needs no retrace.
* `compile_forward(model, prepare=None)`: the model's inference forward on
  `prepare(*args)` (keras.ops, built inside the compiled call; None: the one argument is the
  batch), compiled. It holds the model weakly (a cache keyed on the model may keep it) and,
  like `compile_function`, reads the weights at each call (on JAX they are arguments), so
  re-drawn weights need no retrace and are never stale.
* `normal(shape, seed)`: standard normal noise drawn on the device from a (2,) int seed.
* `memory_budget()`: bytes that a batch of perturbed inputs may take on the device.
* `image_summary_writer(directory)`: TensorBoard image summaries (TensorFlow only; on JAX
  an error that says to write PNG files).
"""

import keras

_NAME = keras.backend.backend()

if _NAME == "tensorflow":
    from tfcam.backend.tensorflow import (
        compile_forward,
        compile_function,
        image_summary_writer,
        memory_budget,
        normal,
        value_and_grad,
        vjp,
    )
elif _NAME == "jax":
    from tfcam.backend.jax import (
        compile_forward,
        compile_function,
        image_summary_writer,
        memory_budget,
        normal,
        value_and_grad,
        vjp,
    )
else:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"tfcam runs on the 'tensorflow' and 'jax' Keras backends, not '{_NAME}'. "
        "Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax before importing keras."
    )

NAME = _NAME
__all__ = ["NAME", "compile_forward", "compile_function", "image_summary_writer", "memory_budget", "normal",
           "value_and_grad", "vjp"]
