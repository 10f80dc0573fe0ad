"""Small helpers every layer uses (no imports from the rest of the package)."""
from __future__ import annotations

import time


def as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    return list(value)


def error_text(e: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters, for the error column."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:300].replace("\n", " ")


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
