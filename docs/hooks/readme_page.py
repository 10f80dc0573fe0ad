"""mkdocs hook: the home page (docs/index.md) is the README, with its links into docs/ made
relative to the docs folder (the README links `docs/methods.md`, the site `methods.md`)."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
# a Markdown link or image target that starts with docs/: ](docs/methods.md#x) -> ](methods.md#x)
_DOCS_LINK = re.compile(r"\]\(docs/")


def readme_markdown() -> str:
    return _DOCS_LINK.sub("](", README.read_text(encoding="utf-8"))


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    return readme_markdown()
