"""A tiny document model (headings, paragraphs, tables, images) rendered to Markdown and to standalone HTML.

The report is built once as a list of blocks and rendered twice, so report.md and report.html cannot disagree;
the W&B report reuses the same blocks. The HTML is one self-contained file: its PNGs are embedded (data URIs), and
consecutive images sit side by side in a grid; the Markdown links the PNGs beside it. A table cell may be a `Link`
(the per-run table's run folders). Left out: styling beyond a few CSS lines, and interactive plots.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Link:
    text: str
    href: str  # a path relative to the report, or a URL


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str | Link]]


@dataclass(frozen=True)
class Img:
    src: str  # a path relative to the report
    alt: str


Block = Heading | Para | Table | Img


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def _md_cell(cell: str | Link, links: bool = True) -> str:
    text = str(cell) if not isinstance(cell, Link) else f"[{cell.text}]({cell.href})" if links else cell.text
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(table: Table, links: bool = True) -> str:
    """The table in Markdown; `links=False` writes a `Link` cell as its text (where its relative path means nothing)."""
    lines = ["| " + " | ".join(_md_cell(h) for h in table.header) + " |"]
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c, links) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def to_markdown(doc: Document) -> str:
    parts = [f"# {doc.title}"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            parts.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Table):
            parts.append(md_table(b))
        elif isinstance(b, Img):
            parts.append(f"![{b.alt}]({b.src})")
    return "\n\n".join(parts) + "\n"


CSS = (
    "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0;font-size:14px}"
    "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
    "tbody tr:nth-child(even){background:#fafafa}th:first-child,td:first-child{text-align:left}"
    "td:first-child{max-width:28em;overflow-wrap:anywhere}"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px;margin:1em 0}"
    ".plots img{width:100%;border:1px solid #e5e5e5}"
)


def to_html(doc: Document, base: Path | None = None) -> str:
    """The standalone HTML page; images found under `base` are embedded, others linked by their `src`."""
    e = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(doc.title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{e(doc.title)}</h1>",
    ]
    grid = False
    for b in doc.blocks:
        if grid and not isinstance(b, Img):
            parts.append("</div>")
            grid = False
        if isinstance(b, Heading):
            parts.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            parts.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Img):
            if not grid:
                parts.append("<div class='plots'>")
                grid = True
            parts.append(f"<img src='{e(image_src(b.src, base), quote=True)}' alt='{e(b.alt, quote=True)}'>")
    parts.append("</div></body></html>" if grid else "</body></html>")
    return "\n".join(parts) + "\n"


def _html_cell(cell: str | Link) -> str:
    if isinstance(cell, Link):
        return f"<a href='{html.escape(cell.href, quote=True)}'>{html.escape(cell.text)}</a>"
    return html.escape(str(cell))


def image_src(src: str, base: Path | None) -> str:
    """A data URI of the PNG or SVG `base / src` when it exists, else `src` as it is."""
    path = Path(base) / src if base is not None else None
    kinds = {".png": "image/png", ".svg": "image/svg+xml"}
    if path is None or path.suffix not in kinds or not path.is_file():
        return src
    return f"data:{kinds[path.suffix]};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
