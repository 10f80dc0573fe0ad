"""The console filter of tfcam's command lines: TensorFlow's native log lines are dropped,
everything else passes, unfinished lines (progress bars) at once. Plain subprocesses that
write to descriptor 2 themselves: no TensorFlow needed."""
import subprocess
import sys

NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796317591.334393    1990 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
    b"E0000 00:00:1796317623.577007    2035 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    b"E0000 00:00:1733246403.123    77 node_def_util.cc:680] NodeDef mentions attribute use_unbounded_threadpool",
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
    b"appropriate compiler flags.",
]


def run(body: str, filtered: bool = True) -> bytes:
    install = "import tfcam_console; tfcam_console.quiet_native_logs()\n" if filtered else ""
    code = f"import os, sys, time\n{install}{body}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60).stderr


def test_native_lines_are_dropped_and_ours_kept():
    lines = "".join("os.write(2, %r)\n" % (line + b"\n") for line in NOISE)
    body = lines + "print('tfcam: error: kept', file=sys.stderr)\nos.write(2, b'I think so\\n')\n"
    assert run(body) == b"tfcam: error: kept\nI think so\n"
    assert run(body, filtered=False).count(b"\n") == len(NOISE) + 2  # the test sees them otherwise


def test_a_native_line_written_in_pieces_is_dropped():
    head, tail = NOISE[2][:20], NOISE[2][20:]
    rest = tail + b"\n"
    body = f"os.write(2, {head!r}); time.sleep(0.2); os.write(2, {rest!r}); os.write(2, b'ok\\n')\n"
    assert run(body) == b"ok\n"


def test_progress_bars_pass_without_waiting_for_a_newline():
    # the parent reads the first redraw while the child is still sleeping: it was not held
    code = ("import os, sys, time, tfcam_console\ntfcam_console.quiet_native_logs()\n"
            "os.write(2, b'\\r 50%|#####     | 1/2'); time.sleep(5); os.write(2, b'\\r100%\\n')\n")
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE)
    try:
        first = child.stderr.read1(100) if hasattr(child.stderr, "read1") else child.stderr.read(17)
        assert first.startswith(b"\r 50%") and child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_a_traceback_reaches_the_console():
    err = run("raise SystemExit(os.write(2, b'') or (1/0))")
    assert b"ZeroDivisionError" in err
