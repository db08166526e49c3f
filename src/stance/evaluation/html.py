"""Self-contained HTML from the markdown reports: ``report.html`` beside ``report.md``.

One file a reviewer can open from a CI artifact or attach anywhere: the
pictures are embedded as data URIs and the style is inline, so nothing else
is fetched. The markdown stays the one source of the text and tables (render.py
and compare.py write it); this module only turns it into a page, with
markdown-it-py (CommonMark plus tables). Raw HTML in the markdown is escaped,
not passed through: sentences from the data are quoted in the reports.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from stance.files import write_text_atomic

REPORT_HTML = "report.html"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
section { border-top: 2px solid #ddd; margin-top: 2rem; }
.fail { color: #b00020; font-weight: bold; }
"""


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _embed_images(tokens: list[Token], folder: Path) -> None:
    """Replace each relative image source in ``folder`` by its bytes; a missing picture keeps only its alt text."""
    for token in tokens:
        for child in token.children or []:
            if child.type != "image":
                continue
            src = str(child.attrs.get("src", ""))
            picture = (folder / src).resolve()
            # Only pictures inside the report's folder: a hand-edited report must not pull in other files.
            if "://" not in src and picture.is_relative_to(folder.resolve()) and picture.is_file():
                child.attrs["src"] = _data_uri(picture)
            else:
                child.attrs.pop("src", None)


def markdown_to_html(markdown: str, folder: Path) -> str:
    """An HTML fragment of ``markdown`` whose pictures (relative to ``folder``) are embedded."""
    md = _parser()
    tokens = md.parse(markdown)
    _embed_images(tokens, Path(folder))
    return md.renderer.render(tokens, md.options, {})


def html_page(title: str, sections: list[tuple[str, Path]]) -> str:
    """A whole page: each section is (markdown, the folder its pictures are in)."""
    body = "\n".join(f"<section>\n{markdown_to_html(text, folder)}</section>" for text, folder in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_html(path: Path, title: str, sections: list[tuple[str, Path]]) -> Path:
    write_text_atomic(Path(path), html_page(title, sections))
    return Path(path)
