"""The command line's parser and its one rule for errors: one line, the fix, exit status 2
(or the traceback with --debug)."""

from __future__ import annotations

import argparse
import sys

from tfcam.cli import explain_command, layers_command, methods_command, user_code
from tfcam.cli.errors import USER_ERRORS

COMMANDS = {
    "explain": (explain_command, "explain images: overlays, maps (.npy) and a grid figure"),
    "layers": (layers_command, "the layers a CAM method can explain, and the default one"),
    "methods": (methods_command, "the methods, one line each, and their options"),
}
EXAMPLE = """example:
  tfcam explain model.keras cat.jpg dog.jpg --method grad_cam --method relevance_cam --out maps
  tfcam layers model.keras --import my_layers.py    # a model with custom layers
  tfcam methods"""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tfcam", description="Where does a Keras classifier look? "
                                  "Class activation maps, LRP and attributions.", epilog=EXAMPLE,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--debug", action="store_true", help="show tracebacks and TensorFlow's own log lines")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, summary) in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary)
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show tracebacks and TensorFlow's own log lines")
        module.add_arguments(command)
        user_code.add_argument(command)  # every command: the user's layers (and methods) first
    return top


def main(argv=None) -> int:
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
