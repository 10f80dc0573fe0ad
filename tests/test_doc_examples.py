"""Every ```python example of the README and docs/ runs as written, on the backend under test.

Each Markdown file's examples run in order in one fresh Python process, in an empty folder:
as a reader would paste them, later examples building on earlier ones (the README's
quickstart defines the model the next examples explain). A fresh process, because examples
register things for good (a method id, an LRP rule, a Keras class). A traceback names the
Markdown file and line.

An example that cannot run as written (it needs the reader's own file, say) opts out with
`<!-- no-run: why -->` on the line before its fence; the reason is required, and such
examples are listed by `test_examples_that_do_not_run_say_why`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>.*)$")
NO_RUN = re.compile(r"^\s*<!--\s*no-run\b:?(?P<why>.*?)-->\s*$")

# What an example file must have left behind, checked after its examples ran (the README's
# quickstart promises these).
AFTERWARDS = {
    "README.md": "import pathlib\n"
                 "assert pathlib.Path('overlay.png').stat().st_size > 0\n"
                 "assert pathlib.Path('grid.png').stat().st_size > 0\n"
                 "assert ex.maps.shape == (4, 64, 64), ex.maps.shape\n",
}

# Runs the examples given as JSON [[file, first line, source], ...] in one namespace, each
# compiled under its file's name and line numbers, so that tracebacks point into the docs.
RUNNER = """
import json, sys
namespace = {"__name__": "__main__"}
for path, line, source in json.load(open(sys.argv[1], encoding="utf-8")):
    exec(compile("\\n" * (line - 1) + source, path, "exec"), namespace)
"""


@dataclass
class Example:
    path: str   # relative to the repository
    line: int   # of the example's first line of code
    source: str
    runs: bool
    why_not: str


def examples(path: Path, root: Path = REPO) -> list[Example]:
    """The ```python fences of a Markdown file, in order (other languages are not run)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, k = [], 0
    while k < len(lines):
        opening = FENCE.match(lines[k])
        if not opening:
            k += 1
            continue
        end = next((j for j in range(k + 1, len(lines))
                    if lines[j].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{path.name}:{k + 1}: a code fence that is never closed")
        if opening["info"].strip().split(" ")[0] == "python":
            indent = len(opening["indent"])
            source = "\n".join(line[indent:] for line in lines[k + 1:end]) + "\n"
            previous = lines[k - 1] if k else ""
            skip = NO_RUN.match(previous)
            found.append(Example(path.relative_to(root).as_posix(), k + 2, source,
                                 runs=skip is None, why_not=skip["why"].strip() if skip else ""))
        k = end + 1
    return found


def files_with_examples() -> list[Path]:
    return [p for p in DOCS if any(e.runs for e in examples(p))]


def run_examples(path: Path, folder: Path) -> subprocess.CompletedProcess:
    rel = path.relative_to(REPO).as_posix()
    chosen = [[e.path, e.line, e.source] for e in examples(path) if e.runs]
    if rel in AFTERWARDS:
        chosen.append([f"{rel} (afterwards, tests/test_doc_examples.py)", 1, AFTERWARDS[rel]])
    script = folder / "examples.json"
    script.write_text(json.dumps(chosen), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", RUNNER, str(script)], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("path", files_with_examples(),
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_examples_run_as_written(path, tmp_path):
    done = run_examples(path, tmp_path)
    assert done.returncode == 0, (
        f"an example of {path.relative_to(REPO)} failed on KERAS_BACKEND="
        f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}:\n{done.stderr[-6000:]}")


def test_the_readme_and_the_method_docs_have_examples():
    """The extraction finds the examples it must run (a changed fence would hide them)."""
    counts = {p.relative_to(REPO).as_posix(): sum(e.runs for e in examples(p)) for p in DOCS}
    assert counts["README.md"] >= 5, counts
    assert counts["docs/methods.md"] >= 4, counts
    assert counts["docs/architecture.md"] >= 2, counts


def test_examples_that_do_not_run_say_why():
    skipped = [e for p in DOCS for e in examples(p) if not e.runs]
    assert all(e.why_not for e in skipped), [f"{e.path}:{e.line}" for e in skipped if not e.why_not]
    assert len(skipped) <= 2, [f"{e.path}:{e.line}: {e.why_not}" for e in skipped]


def test_extraction_reads_fences_markers_and_lines(tmp_path):
    """An oracle: a runnable example (in a list, indented), a shell one, an opted-out one."""
    doc = tmp_path / "doc.md"
    doc.write_text("# t\n\n1. first\n\n   ```python\n   x = 1\n   y = x\n   ```\n\n"
                   "```bash\nls\n```\n\n"
                   "<!-- no-run: needs your photo -->\n```python\nopen('mine.jpg')\n```\n")
    found = [(e.line, e.source, e.runs, e.why_not) for e in examples(doc, root=tmp_path)]
    assert found == [(6, "x = 1\ny = x\n", True, ""),
                     (16, "open('mine.jpg')\n", False, "needs your photo")]
