"""mkdocs hook: docs/cli.md gets each `tfcam` command's `--help` and the `tfcam methods`
list, captured from the installed program at build time (a new command or option shows up
without editing the page)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os

MARKER = "<!-- tfcam-help: each command's --help, then `tfcam methods` -->"
WIDTH = "80"  # argparse wraps to $COLUMNS: the same page on every terminal


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    # argparse keeps its subparsers in the (private but long-stable) _SubParsersAction
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _block(text: str) -> str:
    return f"```text\n{text}\n```"


def cli_markdown() -> str:
    # tfcam imports Keras, hence TensorFlow: keep its native log lines off the build's output
    import tfcam_console

    tfcam_console.quiet_native_logs()
    main = importlib.import_module("tfcam.cli.main")  # the module (tfcam.cli.main is also its function)
    methods_command = importlib.import_module("tfcam.cli.methods_command")

    top = main.parser()
    parts = ["## tfcam", _block(_help(top))]
    for name, sub in _subcommands(top).items():
        parts += [f"## tfcam {name}", _block(_help(sub))]
    lines: list[str] = []
    with contextlib.redirect_stdout(io.StringIO()):
        methods_command.run(argparse.Namespace(), log=lines.append)
    parts += ["## The methods (`tfcam methods`)", _block("\n".join(lines))]
    return "\n\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/cli.md lost its marker {MARKER!r}: put it back where the help goes")
    return markdown.replace(MARKER, cli_markdown())
