"""The command line's parser and its one rule for errors: one line, the fix, exit status 2
(or the traceback with --debug). `tfcam bench` is the exception: Hydra reads its arguments."""

from __future__ import annotations

import argparse
import sys

from tfcam import __version__
from tfcam.cli import bench_command, explain_command, layers_command, methods_command, user_code
from tfcam.cli.errors import USER_ERRORS

COMMANDS = {
    "explain": (explain_command, "explain images: overlays, maps (.npy) and a grid figure"),
    "layers": (layers_command, "the layers a CAM method can explain, and the default one"),
    "methods": (methods_command, "the methods, one line each, and their options"),
    "bench": (bench_command, "run the benchmark suite (Hydra overrides follow; needs tfcam[bench])"),
}
EXAMPLE = """example:
  tfcam explain model.keras cat.jpg dog.jpg --method grad_cam --method relevance_cam --out maps
  tfcam layers model.keras --import my_layers.py    # a model with custom layers
  tfcam methods
  tfcam bench experiment=shattered_gradients    # the benchmark suite, from any folder"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tfcam", description="Where does a Keras classifier look? "
                                  "Class activation maps, LRP and attributions.", epilog=EXAMPLE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's own log lines")
    top.add_argument("--version", action="version", version=f"tfcam {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary,
                                 add_help=module is not bench_command)  # bench: Hydra's --help
        if module is bench_command:  # Hydra reads its arguments (main hands them over)
            module.add_arguments(command)
            continue
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show tracebacks and TensorFlow's own log lines")
        module.add_arguments(command)
        user_code.add_argument(command)  # every command: the user's layers (and methods) first
    return top


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    bench = _bench_arguments(argv)
    if bench is not None:
        return _bench(bench, debug="--debug" in argv[:len(argv) - len(bench) - 1])
    args = parser().parse_args(argv)
    if args.command is None:
        parser().print_help()
        return 2
    module, _ = COMMANDS[args.command]
    try:
        user_code.import_all(args.imports)
        return module.run(args)
    except USER_ERRORS as e:
        if args.debug:
            raise
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"tfcam {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfcam: interrupted", file=sys.stderr)
        return 130


def _bench_arguments(argv):
    """What follows `bench` when it is the command (only tfcam's options before it), else None:
    Hydra's flags (`-m`, `--cfg job`, `--help`) must reach Hydra, not argparse."""
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return argv[i + 1:] if arg == "bench" else None
    return None


def _bench(arguments, debug: bool) -> int:
    try:
        return bench_command.main(arguments)
    except USER_ERRORS as e:
        if debug:
            raise
        print(f"tfcam bench: error: {e}", file=sys.stderr)
        return 2
