"""Helpers shared by the report tests: an analysed copy of the sample study and an HTML table reader.

Not a test module (no ``test_`` prefix); imported by ``tests/test_report_*.py``. The analysed study is
built once per test process (catalog + ephys analysis take ~15 s) and cached here.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from typer.testing import CliRunner

from conftest import SAMPLE_STUDY
from fmslab.cli import app

runner = CliRunner()
_CACHE: dict[str, Path] = {}


def run_cli(*argv: str) -> None:
    result = runner.invoke(app, ["-q", *argv])
    assert result.exit_code == 0, f"fmslab {' '.join(argv)} failed:\n{result.output}"


def copy_sample_study(dest: Path) -> Path:
    """The same copy the ``sample_study`` fixture makes (without any results)."""
    shutil.copytree(SAMPLE_STUDY, dest, ignore=shutil.ignore_patterns("results"))
    return dest


def analysed_sample_study(tmp_path_factory) -> Path:
    """Sample study after ``fmslab study catalog`` and ``fmslab ephys analyze --study`` (cached)."""
    if "study" not in _CACHE:
        study = copy_sample_study(tmp_path_factory.mktemp("report") / "sample_study")
        run_cli("study", "catalog", str(study))
        run_cli("ephys", "analyze", "--study", str(study), "--jobs", "1")
        _CACHE["study"] = study
    return _CACHE["study"]


@dataclass
class Table:
    """One ``<table>`` of the page: header texts, cell texts and cells' ``data-v`` values."""

    id: str
    n_rows_attr: int | None
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    raw: list[list[str | None]] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        i = self.headers.index(name)
        return [r[i] for r in self.rows]

    def raw_column(self, name: str) -> list[str | None]:
        i = self.headers.index(name)
        return [r[i] for r in self.raw]


class PageParser(HTMLParser):
    """Collects tables (by id), ``<img>``/``<script>``/``<link>`` attributes and visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, Table] = {}
        self.images: list[dict[str, str | None]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.anchors: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self._table: Table | None = None
        self._in_head = False
        self._cell: list[str] | None = None
        self._skip = 0  # inside <script>/<style>

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
            if tag == "script":
                self.scripts.append(a)
        elif tag == "img":
            self.images.append(a)
        elif tag == "link":
            self.links.append(a)
        elif tag == "a":
            self.anchors.append(a)
        elif tag == "table":
            rows = a.get("data-rows")
            self._table = Table(id=a.get("id") or "", n_rows_attr=int(rows) if rows else None)
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None and not self._in_head:
            self._table.rows.append([])
            self._table.raw.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
            if tag == "td":
                self._table.raw[-1].append(a.get("data-v"))

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._table is not None and self._cell is not None:
            text = "".join(self._cell).strip()
            if tag == "th":
                self._table.headers.append(text)
            else:
                self._table.rows[-1].append(text)
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables[self._table.id] = self._table
            self._table = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser
