"""The console of tfcam's command lines (`tfcam`, `tfcam bench`, `python -m benchmarks`):
only our output.

TensorFlow's C++ runtime writes log lines straight to file descriptor 2 ("failed call to
cuInit" on a machine without a GPU, "Could not find cuda drivers", the CPU-instructions
notice, tf.data's "NodeDef mentions attribute use_unbounded_threadpool"); many come before
`TF_CPP_MIN_LOG_LEVEL` is read, or ignore it. `quiet_native_logs()` puts a filter on the
descriptor that drops lines in the native logger's format and passes everything else
(Python's messages, tracebacks, progress bars) through as it comes.

This package imports nothing heavy: it must run before TensorFlow is imported, and `tfcam`
imports Keras (hence TensorFlow) on import, so the filter cannot live inside `tfcam`.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# absl / TensorFlow native lines: "I0000 00:00:1796317591.334393    1990 file.cc:31] ..."
NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.+-]+:\d+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)
# what an unfinished native line may look like so far, to hold it back until it is complete
_HEADER_SO_FAR = re.compile(rb"^[IWEF]\d{0,4}(?: [\d:.]*(?: +\d*(?: [\w.+-]*(?::\d*)?)?)?)?$")
_LITERAL_STARTS = (b"WARNING: All log messages before absl::InitializeLog()",
                   b"To enable the following instructions:")

_installed = None


def is_native_log_line(line: bytes) -> bool:
    return bool(NATIVE_LINE.match(line))


def _may_become_native(tail: bytes) -> bool:
    if NATIVE_LINE.match(tail) or _HEADER_SO_FAR.match(tail):
        return True
    return any(start.startswith(tail) or tail.startswith(start) for start in _LITERAL_STARTS)


def quiet_native_logs() -> None:
    """Drop native log lines from this process's stderr (and its children's, which share
    the descriptor) from now on. Idempotent; `TFCAM_NATIVE_LOGS=1` turns it off."""
    global _installed
    if _installed is not None or os.environ.get("TFCAM_NATIVE_LOGS") == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # what TensorFlow does honour
    try:
        sys.stderr.flush()
        original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:  # no descriptor 2 to filter (embedded interpreters): leave it alone
        return
    thread = threading.Thread(target=_forward, args=(read_end, original), daemon=True,
                              name="tfcam-native-log-filter")
    thread.start()
    _installed = (original, thread)
    atexit.register(_restore)


def _forward(read_end: int, original: int) -> None:
    """Copy the pipe to the real stderr, line by line, leaving out native log lines; an
    unfinished line is passed on at once (progress bars redraw with '\\r'), unless it may
    be the start of a native line."""
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            break
        if not chunk:
            break
        text = pending + chunk
        try:
            *lines, pending = text.split(b"\n")
            out = b"".join(line + b"\n" for line in lines if not is_native_log_line(line))
            if pending and not _may_become_native(pending):
                out, pending = out + pending, b""
        except Exception:  # noqa: BLE001 - never stop draining (a full pipe would hang the writers)
            out, pending = text, b""
        if out:
            _write_all(original, out)
    if pending and not is_native_log_line(pending):
        _write_all(original, pending)
    os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data):]
        except OSError:
            return


def _restore() -> None:
    """At exit: flush, give descriptor 2 back, and let the filter pass what is left."""
    global _installed
    if _installed is None:
        return
    original, thread = _installed
    _installed = None
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(original, 2)  # closes the pipe's last write end here: the reader sees the end
    thread.join(timeout=2)


def main(argv=None) -> int:
    """The `tfcam` console script: the filter first (unless --debug), then the command line."""
    args = sys.argv[1:] if argv is None else list(argv)
    if "--debug" not in args:
        quiet_native_logs()
    from tfcam.cli import main as cli_main

    return cli_main(args)
