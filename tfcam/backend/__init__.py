"""The only part of tfcam that knows which Keras backend runs: gradients and compilation.

Everything else is written with `keras.ops`. The functions here are:

* `value_and_grad(fn)`: `fn(x, *rest) -> (scalar, aux)` becomes
  `(x, *rest) -> (scalar, aux, d scalar / d x)`; `x` may be a tensor or a list of tensors.
* `vjp(fn, *primals)`: `(outputs, pullback)` with `pullback(cotangent) -> list of gradients`.
* `compile_function(fn, variables)`: a compiled `fn` (tf.function / jax.jit). On JAX the
  variables' current values are passed in as arguments (a `keras.StatelessScope`), so the
  compiled function never bakes in stale weights and changing the weights needs no retrace.
* `normal(shape, seed)`: standard normal noise drawn on the device from a (2,) int seed.
* `memory_budget()`: bytes that a batch of perturbed inputs may take on the device.
"""

import keras

_NAME = keras.backend.backend()

if _NAME == "tensorflow":
    from tfcam.backend.tensorflow import (
        compile_function, memory_budget, normal, value_and_grad, vjp)
elif _NAME == "jax":
    from tfcam.backend.jax import compile_function, memory_budget, normal, value_and_grad, vjp
else:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"tfcam runs on the 'tensorflow' and 'jax' Keras backends, not '{_NAME}'. "
        "Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax before importing keras."
    )

NAME = _NAME
__all__ = ["NAME", "compile_function", "memory_budget", "normal", "value_and_grad", "vjp"]
