"""Griffe extension for the API pages: tfcam's docstrings as Markdown.

Most docstrings describe their parameters or fields as free text, one `name: meaning` line
each (continued on indented lines) rather than under an "Args:" header; the Google parser
would take such a line followed by an indented one for an admonition titled `name`. Here a
run of them becomes a Markdown list (`- **name**: meaning`) before the docstring is parsed.
Sphinx roles (:class:`X`, :func:`f`) become code spans. "Args:"/"Returns:" sections,
prose and code blocks are left as they are.
"""

from __future__ import annotations

import re

import griffe

# `name: text` or `a, b: text` at the docstring's left margin (identifiers only: a sentence
# such as "Class explained: ..." is prose)
_FIELD = re.compile(r"^(?P<names>[A-Za-z_][\w.]*(?:, ?[A-Za-z_][\w.]*)*): (?P<text>\S.*)$")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`~?([^`]+)`")
# Google section titles keep their meaning ("Returns: the maps" is not a field)
_SECTIONS = {"args", "arguments", "params", "parameters", "returns", "return", "yields",
             "raises", "raise", "examples", "example", "attributes", "note", "notes",
             "warning", "warnings", "see also", "todo", "receives", "other parameters",
             "keyword args", "keyword arguments"}


def as_markdown(text: str) -> str:
    """Free-text `name: meaning` runs as a Markdown list; Sphinx roles as code spans."""
    out: list[str] = []
    in_fields = False  # inside a run of fields (a field line or its indented continuation)
    fenced = False
    for line in _ROLE.sub(r"`\1`", text).splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _FIELD.match(line)
        starts_run = not out or not out[-1].strip() or in_fields
        if match and starts_run and match["names"].lower() not in _SECTIONS:
            out.append(f"- **{match['names']}**: {match['text']}")
            in_fields = True
            continue
        if in_fields and not line.startswith(" "):  # a blank line or prose ends the run
            in_fields = False
        out.append(line)
    return "\n".join(out)


class FreeTextFields(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = as_markdown(obj.docstring.value)
