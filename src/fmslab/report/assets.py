"""The report's inline stylesheet and its JavaScript (vanilla, no library, no network)."""

from __future__ import annotations

from fmslab.report.viewer_js import VIEWER_JS

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #2e5d9f; --bg: #ffffff;
        --alt: #f5f7fa; --bad: #a4262c; --good: #2d7d46; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header { background: #1f3556; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #d6e0ef; }
nav { position: sticky; top: 0; z-index: 5; background: #eef2f8; border-bottom: 1px solid var(--line);
      padding: 6px 28px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; font-weight: 500; }
main { padding: 8px 28px 40px 28px; max-width: 1500px; }
section { margin-top: 26px; }
h2 { font-size: 19px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 18px 0 6px 0; }
.muted, .note { color: var(--muted); }
.note { font-size: 13px; margin: 4px 0 10px 0; }
.na { color: var(--muted); font-style: italic; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 120px;
        background: var(--alt); }
.card .n { font-size: 22px; font-weight: 600; }
.card .l { color: var(--muted); font-size: 12px; }
.tablewrap { overflow-x: auto; max-height: 520px; overflow-y: auto; border: 1px solid var(--line);
             border-radius: 4px; margin: 6px 0; }
table.data { border-collapse: collapse; font-size: 12.5px; width: max-content; min-width: 40%; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left;
                               vertical-align: top; white-space: nowrap; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.data td.wrap { white-space: normal; max-width: 520px; }
table.data thead th { position: sticky; top: 0; background: #e6ebf3; cursor: pointer; user-select: none; }
table.data thead th::after { content: " \\2195"; color: #9aa5b8; font-size: 11px; }
table.data thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--accent); }
table.data thead th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--accent); }
table.data tbody tr:nth-child(even) { background: var(--alt); }
.pass { color: var(--good); font-weight: 600; }
.fail { color: var(--bad); font-weight: 600; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 4px; padding: 6px; background: #fff;
         max-width: 560px; }
figure.wide { max-width: 1100px; }
figure img { max-width: 100%; height: auto; display: block; }
figure img.zoomable { cursor: zoom-in; }
.srclinks { font-size: 12px; margin-top: 2px; }
.srclinks a { margin-right: 10px; }
.lightbox { position: fixed; inset: 0; background: rgba(20, 24, 32, 0.85); z-index: 50;
            display: flex; align-items: center; justify-content: center; cursor: zoom-out; }
.lightbox[hidden] { display: none; }
.lightbox img { max-width: 96vw; max-height: 94vh; background: #fff; padding: 8px; }
.finding { border-left: 4px solid var(--accent); background: var(--alt); padding: 8px 14px;
           margin: 10px 0; border-radius: 0 6px 6px 0; }
.finding.blinded { border-left-color: var(--warn); }
.finding .sentence { font-size: 15.5px; margin: 2px 0 6px 0; }
.finding ul.warnings { margin: 4px 0 6px 0; padding-left: 20px; color: var(--warn); }
.finding table.data { font-size: 12px; }
.forestwrap { overflow-x: auto; }
details.tblock { border: 1px solid var(--line); border-radius: 6px; padding: 4px 10px; margin: 8px 0; }
details.tblock > summary { padding: 3px 0; }
details.gallery > summary { padding: 6px 0; }
.tabletools { margin: 6px 0; font-size: 13px; }
.tabletools input.tsearch { width: 320px; padding: 3px 6px; }
.tcount { color: var(--muted); }
.summary h4 { margin: 4px 0; }
.view { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; margin: 8px 0; }
.view[hidden] { display: none; }
.chartbox { margin: 10px 0; }
.charttitle { font-size: 13px; margin: 4px 0; color: var(--fg); }
.chart { position: relative; max-width: 1100px; }
.chart canvas { display: block; border-radius: 4px; cursor: crosshair; }
.chart button.reset { position: absolute; top: 12px; right: 16px; font-size: 11px; }
.key.thr { color: #D55E00; } .key.pk { color: #0072B2; } .key.win { color: #8fa9d3; }
select.viewpick { font-size: 14px; padding: 3px; max-width: 100%; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; word-break: break-all; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
details summary { cursor: pointer; color: var(--accent); }
dl.kv { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
footer { color: var(--muted); font-size: 12px; padding: 12px 28px; border-top: 1px solid var(--line); }
"""

#: Sorts a table by the clicked header. Cells may carry the raw value in ``data-v`` (numbers are
#: displayed rounded); a column is numeric when every non-empty cell parses as a number. Empty
#: cells always go last. The header's ``aria-sort`` attribute records the current order.
SORT_JS = """
(function () {
  "use strict";
  function cellValue(td) {
    if (!td) { return ""; }
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent.trim() : v;
  }
  function sortTable(table, col, th) {
    var tbody = table.tBodies[0];
    if (!tbody) { return; }
    var rows = Array.prototype.slice.call(tbody.rows);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var numeric = rows.every(function (r) {
      var v = cellValue(r.cells[col]);
      return v === "" || isFinite(Number(v));
    });
    var keyed = rows.map(function (r, i) { return { row: r, v: cellValue(r.cells[col]), i: i }; });
    keyed.sort(function (a, b) {
      var ea = a.v === "", eb = b.v === "";
      if (ea || eb) { return ea === eb ? a.i - b.i : (ea ? 1 : -1); }
      var c = numeric ? Number(a.v) - Number(b.v)
                      : a.v.localeCompare(b.v, undefined, { numeric: true, sensitivity: "base" });
      return c !== 0 ? dir * c : a.i - b.i;
    });
    var ths = table.tHead.rows[0].cells;
    for (var j = 0; j < ths.length; j++) { ths[j].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.row); });
    tbody.appendChild(frag);
  }
  function init() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, function (table) {
      if (!table.tHead) { return; }
      var ths = table.tHead.rows[0].cells;
      Array.prototype.forEach.call(ths, function (th, col) {
        th.setAttribute("title", "Click to sort");
        th.addEventListener("click", function () { sortTable(table, col, th); });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
"""

#: All of the page's JavaScript: the sorter and the viewer/table tools.
JS = SORT_JS + VIEWER_JS
