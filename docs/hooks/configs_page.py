"""mkdocs hook: docs/configs.md gets tables of the benchmark's config groups, read from
conf/ (each file's leading comment and main keys) and from the tasks' `Settings` dataclasses
in benchmarks/tasks/ (their defaults, and the papers' values of conf/metrics/full.yaml), at
build time: a new config file or setting shows up without editing the page.

Nothing is imported from the benchmark (the files are read as text and YAML, the
dataclasses with `ast`): the page builds without Hydra."""

from __future__ import annotations

import ast
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
TASKS = ROOT / "benchmarks" / "tasks"
SCHEMA = ROOT / "benchmarks" / "schema.py"
MARKER = "<!-- configs: generated from conf/ and benchmarks/tasks/ -->"

# per group: (title, the columns after the name: (heading, how to read it from the YAML))
GROUPS = {
    "experiment": ("Experiments: what runs", [
        ("models", lambda d: _names(d.get("models"))),
        ("methods", lambda d: _names(d.get("methods"))),
        ("layers", lambda d: _names(d.get("layers"))),
        ("tasks", lambda d: _names(d.get("tasks"))),
    ]),
    "model": ("Models", [
        ("family", lambda d: _code(d.get("family"))),
        ("builder", lambda d: _code(d.get("builder"))),
        ("weights", lambda d: _code(d.get("weights"))),
        ("layers (shallow, mid, last)", lambda d: _layers(d.get("layers"))),
    ]),
    "method": ("Methods", [
        ("library", lambda d: d.get("library", "")),
        ("method", lambda d: _code(d.get("name"))),
        ("options", lambda d: _options(d.get("options"))),
        ("tfcam counterpart", lambda d: _code(d.get("counterpart"))),
    ]),
    "dataset": ("Data sets", [
        ("kind", lambda d: _code(d.get("kind", "synthetic"))),
        ("image size", lambda d: _code(d.get("image_size"))),
        ("images", lambda d: _code(d.get("n_images"))),
    ]),
    "metrics": ("Task settings presets", []),
    "train": ("Training (models trained on the built-in data)", []),
}


def _cell(text) -> str:
    """Text fit for one Markdown table cell."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def _code(value) -> str:
    if value is None or value == "":
        return ""
    return f"`{value}`"


def _names(values) -> str:
    if not values:
        return ""
    return ", ".join(f"`{v}`" for v in values)


def _layers(layers) -> str:
    if not isinstance(layers, dict) or not layers:
        return ""
    return ", ".join(f"`{layers[k]}`" for k in ("shallow", "mid", "last") if k in layers)


def _options(options) -> str:
    if not options:
        return ""
    return ", ".join(f"`{k}={v}`" for k, v in options.items())


def leading_comment(text: str) -> str:
    """The comment lines a YAML file starts with, as one paragraph (Hydra's `@package`
    directive left out)."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        if not body.startswith("@package"):
            lines.append(body)
    return " ".join(lines)


def key_comments(text: str) -> dict[str, tuple[str, str]]:
    """`key: value  # comment` lines, with the indented comment lines that continue them:
    dotted key (`report.figures`) -> (value as written, comment). A key whose value is a
    block has an empty value; its keys follow it."""
    out: dict[str, tuple[str, str]] = {}
    parents: list[tuple[int, str]] = []  # (indent, key) of the blocks the line is in
    last = None
    for line in text.splitlines():
        match = re.match(r"^(\s*)([A-Za-z_]\w*):\s*(.*?)\s*(?:#\s*(.*))?$", line)
        if match:
            indent, key, value, comment = len(match[1]), match[2], match[3], match[4]
            while parents and parents[-1][0] >= indent:
                parents.pop()
            dotted = ".".join([*(k for _, k in parents), key])
            out[dotted] = (value, comment or "")
            parents.append((indent, key))
            last = dotted
        elif last and re.match(r"^\s+#", line) and out[last][1]:
            value, comment = out[last]
            out[last] = (value, comment + " " + line.strip()[1:].strip())
        else:
            last = None
    return out


def group_table(group: str) -> str:
    title, columns = GROUPS[group]
    headings = [f"`{group}=`", *(heading for heading, _ in columns), "what"]
    rows = ["| " + " | ".join(headings) + " |", "|" + "---|" * len(headings)]
    for path in sorted((CONF / group).glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        what = data.get("experiment", {}).get("description", "") if group == "experiment" else ""
        about = leading_comment(text)
        what = f"{what}. {about}" if what and about else what or about
        cells = [f"`{path.stem}`", *(read(data) for _, read in columns), _cell(what)]
        rows.append("| " + " | ".join(cells) + " |")
    return f"## {title} (`conf/{group}/`)\n\n" + "\n".join(rows)


def top_level_table() -> str:
    text = (CONF / "config.yaml").read_text(encoding="utf-8")
    rows = ["| key | default | what |", "|---|---|---|"]
    for key, (value, comment) in key_comments(text).items():
        if key.split(".")[0] in ("defaults", "hydra") or not (value or comment):
            continue  # Hydra's own settings; a block's name (its keys have rows)
        rows.append(f"| `{key}` | {_code(value)} | {_cell(comment)} |")
    defaults = ", ".join(f"`{g}={'null' if v is None else v}`" for entry in yaml.safe_load(text)["defaults"]
                         if isinstance(entry, dict) for g, v in entry.items())
    return ("## Top-level keys (`conf/config.yaml`)\n\n"
            f"Groups chosen by default: {defaults} (`model=` and `method=` run one model or "
            "method instead of the experiment's lists).\n\n" + "\n".join(rows))


def train_table() -> str:
    text = (CONF / "train" / "default.yaml").read_text(encoding="utf-8")
    rows = ["| `train.` key | default | what |", "|---|---|---|"]
    for key, (value, comment) in key_comments(text).items():
        rows.append(f"| `{key}` | {_code(value)} | {_cell(comment)} |")
    return (f"## {GROUPS['train'][0]} (`conf/train/default.yaml`)\n\n"
            f"{_cell(leading_comment(text))}\n\n" + "\n".join(rows))


def dataclass_fields(path: pathlib.Path, class_name: str) -> list[tuple[str, str, str, str]]:
    """(name, type, default, comment) of each field of `class_name` in `path`: the comment
    on the field's line, else the comment lines right above it."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            break
    else:
        return []
    fields = []
    for item in node.body:
        if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)):
            continue
        kind = ast.get_source_segment(source, item.annotation) or ""
        default = "" if item.value is None else ast.get_source_segment(source, item.value) or ""
        line = lines[item.lineno - 1]
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        if not comment:
            above = []
            k = item.lineno - 2
            while k >= 0 and lines[k].strip().startswith("#"):
                above.insert(0, lines[k].strip()[1:].strip())
                k -= 1
            comment = " ".join(above)
        fields.append((item.target.id, kind, default, comment))
    return fields


def task_settings_tables() -> str:
    full = yaml.safe_load((CONF / "metrics" / "full.yaml").read_text(encoding="utf-8")) or {}
    parts = [group_table("metrics"),
             "Each task's settings, `metrics.<task>.<key>`: their defaults are the task's "
             "`Settings` dataclass (`benchmarks/tasks/<task>.py`); `metrics=full` sets the "
             "papers' values (`conf/metrics/full.yaml`, its comments name the papers), an "
             "experiment or the command line sets any of them."]
    sections = [(path.stem, path, "Settings") for path in sorted(TASKS.glob("*.py"))
                if not path.stem.startswith("_")]
    sections.append(("masking", SCHEMA, "MaskingConfig"))
    for task, path, class_name in sections:
        fields = dataclass_fields(path, class_name)
        if not fields:
            continue
        papers = full.get(task) or {}
        rows = ["| key | type | default | `metrics=full` | what |", "|---|---|---|---|---|"]
        for name, kind, default, comment in fields:
            paper = _code(papers[name]) if name in papers else ""
            rows.append(f"| `{name}` | `{kind}` | {_code(default)} | {paper} | {_cell(comment)} |")
        where = path.relative_to(ROOT).as_posix()
        parts.append(f"### `metrics.{task}`\n\nFrom `{where}` (`{class_name}`).\n\n" + "\n".join(rows))
    return "\n\n".join(parts)


def configs_markdown() -> str:
    parts = [top_level_table()]
    parts += [group_table(g) for g in ("experiment", "model", "method", "dataset")]
    parts += [task_settings_tables(), train_table()]
    return "\n\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "configs.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/configs.md lost its marker {MARKER!r}: put it back where the tables go")
    return markdown.replace(MARKER, configs_markdown())
