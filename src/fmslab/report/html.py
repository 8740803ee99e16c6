"""HTML building blocks: every value that reaches the page goes through :func:`esc`.

Plain string building with :func:`html.escape` (no template engine): sheet values, file names and
error messages are escaped, attribute values are quoted and escaped, and nothing from the data is
ever placed inside ``<script>`` or ``<style>``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from fmslab.display import format_number

#: MIME types of the figures the report embeds.
IMAGE_MIME = {".png": "image/png", ".svg": "image/svg+xml"}


def esc(value: Any) -> str:
    """Escape any value for HTML text or a quoted attribute (``& < > " '``)."""
    return html.escape("" if value is None else str(value), quote=True)


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def format_value(value: Any) -> tuple[str, str | None, bool]:
    """Text to display, raw sort value (``data-v``) and whether the value is numeric.

    Floats are shown with 4 significant digits (whole numbers and values >= 1e4 without decimals)
    but sorted on their full value (``repr``); missing values are
    empty; timestamps are shown to the second (UTC offset kept).
    """
    if is_missing(value):
        return "", None, False
    if isinstance(value, bool | np.bool_):
        return ("True" if value else "False"), None, False
    if isinstance(value, int | np.integer):
        return str(int(value)), None, True
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isinf(v):
            return ("inf" if v > 0 else "-inf"), None, False
        return format_number(v), repr(v), True
    if isinstance(value, pd.Timestamp | datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
        return text, value.isoformat(), False
    if isinstance(value, date):
        return value.isoformat(), None, False
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str), None, False
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>", None, False
    return str(value), None, False


def table_html(
    df: pd.DataFrame,
    *,
    table_id: str,
    max_rows: int = 200,
    csv_href: str | None = None,
    wrap_columns: Sequence[str] = (),
    pre_columns: Sequence[str] = (),
    caption: str | None = None,
) -> str:
    """A sortable HTML table of ``df`` (first ``max_rows`` rows), with a truncation note.

    Parameters
    ----------
    df
        The table (its index is ignored).
    table_id
        ``id`` of the ``<table>`` element (escaped).
    max_rows
        Rows shown; when the table is longer a note says how many are left out and links the CSV.
    csv_href
        Relative link to the full table as CSV, or ``None``.
    wrap_columns
        Columns whose long text wraps (messages, reasons).
    pre_columns
        Columns holding JSON text, shown collapsed in a ``<details>`` element.
    caption
        Optional one-line note shown above the table.
    """
    parts: list[str] = []
    if caption:
        parts.append(f'<p class="note">{esc(caption)}</p>')
    n = len(df)
    shown = df.head(max_rows)
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in df.columns)
    body: list[str] = []
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for col, value in zip(df.columns, row, strict=True):
            text, raw, numeric = format_value(value)
            classes = []
            if numeric:
                classes.append("num")
            if col in wrap_columns:
                classes.append("wrap")
            if col in qc_columns() and text in ("True", "False"):
                classes.append("pass" if text == "True" else "fail")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            dv = f' data-v="{esc(raw)}"' if raw is not None else ""
            if col in pre_columns and text:
                inner = (
                    f"<details><summary>{esc(_short(text))}</summary><pre>{esc(_pretty(text))}"
                    "</pre></details>"
                )
                dv = f' data-v="{esc(text)}"'
            else:
                inner = esc(text)
            cells.append(f"<td{cls}{dv}>{inner}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    parts.append(
        f'<div class="tablewrap"><table class="data sortable" id="{esc(table_id)}" '
        f'data-rows="{n}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
        "</table></div>"
    )
    notes = [f"{n} row{'s' if n != 1 else ''}"]
    if n > max_rows:
        notes.append(f"only the first {max_rows} are shown")
    if csv_href:
        link = f'<a href="{esc(csv_href)}">{"full table" if n > max_rows else "CSV"}</a>'
        notes.append(link)
    parts.append(
        f'<p class="note{" truncated" if n > max_rows else ""}">' + "; ".join(notes) + "</p>"
    )
    return "".join(parts)


def qc_columns() -> tuple[str, ...]:
    return ("qc_pass", "status", "passed")


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except (ValueError, TypeError):
        return text


def image_html(
    data: bytes,
    suffix: str,
    caption: str,
    *,
    alt: str | None = None,
    links: Sequence[tuple[str, str]] = (),
    wide: bool = False,
) -> str:
    """A ``<figure>`` with the image embedded as a base64 data URI (click enlarges it).

    ``links`` are (text, relative href) pairs shown under the caption (e.g. source-data CSVs).
    """
    mime = IMAGE_MIME[suffix.lower()]
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    extra = ""
    if links:
        extra = (
            '<div class="srclinks">'
            + " ".join(f'<a href="{esc(h)}">{esc(t)}</a>' for t, h in links)
            + "</div>"
        )
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img class="zoomable" src="{uri}" alt="{esc(alt or caption)}" '
        f'loading="eager" title="Click to enlarge"><figcaption>{esc(caption)}</figcaption>'
        f"{extra}</figure>"
    )


def table_block(
    df: pd.DataFrame,
    *,
    table_id: str,
    title: str,
    subsets: Sequence[tuple[str, Sequence[str]]] = (),
    open_rows: int = 12,
    **table_options: Any,
) -> str:
    """A table in a collapsible block with a search box and a column-subset selector.

    Collapsed when it has more than ``open_rows`` rows. The search box filters rows (free text,
    ``column:text``, ``column>number``, ``column<number``); the selector shows the columns chosen
    for an audience (``subsets``: (name, columns)) or all of them. ``table_options`` go to
    :func:`table_html`.
    """
    n, m = len(df), len(df.columns)
    opened = " open" if n <= open_rows else ""
    options = "".join(
        f'<option value="{esc(",".join(cols))}"{" selected" if i == len(subsets) - 1 else ""}>'
        f"{esc(name)} ({len(cols)} columns)</option>"
        for i, (name, cols) in enumerate(subsets)
    )
    options += f'<option value="*"{"" if subsets else " selected"}>All columns ({m})</option>'
    tools = (
        f'<div class="tabletools" data-table="{esc(table_id)}">'
        f'<input type="search" class="tsearch" placeholder="Search, or column:text, column>number"'
        f' aria-label="Search {esc(title)}"> <select class="tcols" aria-label="Columns">{options}'
        f'</select> <span class="tcount">{n} of {n} rows</span></div>'
    )
    return (
        f'<details class="tblock"{opened}><summary><b>{esc(title)}</b> '
        f'<span class="muted">{n} row{"s" if n != 1 else ""} \u00d7 {m} columns</span></summary>'
        f"{tools}{table_html(df, table_id=table_id, **table_options)}</details>"
    )


def cards_html(items: Iterable[tuple[str, Any]]) -> str:
    """A row of count cards (label, value)."""
    cards = "".join(
        f'<div class="card"><div class="n">{esc(v)}</div><div class="l">{esc(k)}</div></div>'
        for k, v in items
    )
    return f'<div class="cards">{cards}</div>'


def kv_html(items: Iterable[tuple[str, Any]]) -> str:
    """A definition list of key/value pairs."""
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f'<dl class="kv">{rows}</dl>'


def section_html(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def not_analysed(what: str) -> str:
    return f'<p class="na">{esc(what)}: not analysed.</p>'


def page_html(*, title: str, subtitle: str, nav: list[tuple[str, str]], body: str, footer: str,
              css: str, js: str) -> str:  # fmt: skip
    """The whole document. ``css`` and ``js`` are the package's own constants (never data)."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{css}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{links}</nav><main>{body}</main><footer>{footer}</footer>"
        f"<script>{js}</script></body></html>\n"
    )
