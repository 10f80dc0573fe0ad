"""Fixtures of the core tests."""
import collections

import pytest

from tfcam import method_base


@pytest.fixture
def traces(monkeypatch):
    """How often each compiled function's Python body ran: once per trace (tf.function and
    jax.jit run it only when they trace), never on a call that reuses a trace."""
    counts = collections.Counter()
    compile_function = method_base.backend.compile_function

    def counting(fn, variables):
        name = getattr(fn, "func", fn).__qualname__  # explainers compile partials

        def traced(*args):
            counts[name] += 1
            return fn(*args)
        return compile_function(traced, variables)

    monkeypatch.setattr(method_base.backend, "compile_function", counting)
    return counts
