"""The report's own small JavaScript: table tools, figure enlargement and a zoomable chart viewer.

Vanilla JavaScript, no library, no network. Data reach it only through escaped ``data-*``
attributes (JSON), never inside ``<script>``.

- Tables: a search box per table (free text, ``column:text``, ``column>number``,
  ``column<number``; several terms combine with AND), a column-subset selector (per audience) and
  the sortable headers (see :data:`fmslab.report.assets.JS`).
- Figures: clicking an image opens it full-window; Escape or a click closes it.
- Charts (``div.chart`` with ``data-spec`` JSON: lines, points, spans, raster rows): drawn on a
  canvas with axes; the mouse wheel zooms the x axis around the cursor, dragging selects an x range,
  a double click or the "Reset zoom" button restores the full range. The current range is kept in
  the element's ``data-x0``/``data-x1`` (used by the browser tests).
- Cell and unit pickers (``select.viewpick``) show one panel at a time and draw its charts on first
  display.
"""

from __future__ import annotations

VIEWER_JS = r"""
(function () {
  "use strict";
  // ---------------------------------------------------------------- table tools
  function parseTerms(q) {
    return q.trim().split(/\s+/).filter(Boolean).map(function (t) {
      var m = t.match(/^([^:<>=]+)(:|>=|<=|>|<|=)(.*)$/);
      if (m) { return { col: m[1].toLowerCase(), op: m[2], val: m[3].toLowerCase() }; }
      return { col: null, op: ":", val: t.toLowerCase() };
    });
  }
  function cellRaw(td) {
    if (!td) { return ""; }
    var v = td.getAttribute("data-v");
    return (v === null ? td.textContent : v).trim();
  }
  function matches(row, names, term) {
    var cells = row.cells;
    if (term.col === null) {
      for (var i = 0; i < cells.length; i++) {
        if (cells[i].textContent.toLowerCase().indexOf(term.val) >= 0) { return true; }
      }
      return false;
    }
    var j = names.indexOf(term.col);
    if (j < 0) { return false; }
    var raw = cellRaw(cells[j]);
    if (term.op === ":" || term.op === "=") {
      var text = cells[j].textContent.toLowerCase();
      return term.op === ":" ? text.indexOf(term.val) >= 0 : text === term.val;
    }
    var a = Number(raw), b = Number(term.val);
    if (raw === "" || !isFinite(a) || !isFinite(b)) { return false; }
    if (term.op === ">") { return a > b; }
    if (term.op === "<") { return a < b; }
    if (term.op === ">=") { return a >= b; }
    return a <= b;
  }
  function applyFilter(table, input, count) {
    var names = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent.trim().toLowerCase();
    });
    var terms = parseTerms(input.value);
    var rows = table.tBodies[0].rows, shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var ok = terms.every(function (t) { return matches(rows[i], names, t); });
      rows[i].style.display = ok ? "" : "none";
      if (ok) { shown++; }
    }
    count.textContent = shown + " of " + rows.length + " rows";
  }
  function applyColumns(table, subset) {
    var wanted = subset === "*" ? null : subset.split(",");
    var ths = table.tHead.rows[0].cells;
    var hide = [];
    for (var j = 0; j < ths.length; j++) {
      hide.push(wanted !== null && wanted.indexOf(ths[j].textContent.trim()) < 0);
      ths[j].style.display = hide[j] ? "none" : "";
    }
    var rows = table.tBodies[0].rows;
    for (var i = 0; i < rows.length; i++) {
      for (var k = 0; k < rows[i].cells.length; k++) {
        rows[i].cells[k].style.display = hide[k] ? "none" : "";
      }
    }
  }
  function initTools() {
    document.querySelectorAll(".tabletools").forEach(function (bar) {
      var table = document.getElementById(bar.getAttribute("data-table"));
      if (!table || !table.tHead) { return; }
      var input = bar.querySelector("input.tsearch");
      var count = bar.querySelector(".tcount");
      if (input) {
        input.addEventListener("input", function () { applyFilter(table, input, count); });
      }
      var sel = bar.querySelector("select.tcols");
      if (sel) {
        sel.addEventListener("change", function () { applyColumns(table, sel.value); });
        applyColumns(table, sel.value);
      }
    });
  }
  // ---------------------------------------------------------------- figure enlargement
  function initLightbox() {
    var box = document.createElement("div");
    box.className = "lightbox";
    box.setAttribute("hidden", "");
    var big = document.createElement("img");
    big.alt = "";
    box.appendChild(big);
    document.body.appendChild(box);
    function close() { box.setAttribute("hidden", ""); big.removeAttribute("src"); }
    box.addEventListener("click", close);
    document.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(); } });
    document.querySelectorAll("figure img.zoomable").forEach(function (img) {
      img.addEventListener("click", function () {
        big.src = img.src; big.alt = img.alt; box.removeAttribute("hidden");
      });
    });
  }
  // ---------------------------------------------------------------- charts
  function niceTicks(lo, hi, n) {
    var span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    var step = Math.pow(10, Math.floor(Math.log10(span / n)));
    var err = span / n / step;
    if (err >= 7.5) { step *= 10; } else if (err >= 3.5) { step *= 5; } else if (err >= 1.5) { step *= 2; }
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return out;
  }
  function fmt(t) {
    var a = Math.abs(t);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) { return t.toExponential(1); }
    return String(Math.round(t * 1000) / 1000);
  }
  function extent(spec, key) {
    var lo = Infinity, hi = -Infinity;
    spec.series.forEach(function (s) {
      var arr = s[key] || [];
      for (var i = 0; i < arr.length; i++) {
        var v = arr[i];
        if (v !== null && isFinite(v)) { if (v < lo) { lo = v; } if (v > hi) { hi = v; } }
      }
      if (key === "x" && s.type === "span") {
        [s.x0, s.x1].forEach(function (v) {
          if (v !== null && isFinite(v)) { if (v < lo) { lo = v; } if (v > hi) { hi = v; } }
        });
      }
    });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    return [lo, hi];
  }
  function Chart(el) {
    var spec = JSON.parse(el.getAttribute("data-spec"));
    var canvas = document.createElement("canvas");
    el.appendChild(canvas);
    var reset = document.createElement("button");
    reset.type = "button"; reset.className = "reset"; reset.textContent = "Reset zoom";
    el.appendChild(reset);
    var full = extent(spec, "x");
    if (spec.xpad) {
      var xp = (full[1] - full[0]) * spec.xpad;
      full = [full[0] - xp, full[1] + xp];
    }
    var yfull = spec.rows ? [0.5, spec.rows + 0.5] : extent(spec, "y");
    var pad = (yfull[1] - yfull[0]) * 0.05;
    var ylo = yfull[0] - pad, yhi = yfull[1] + pad;
    var view = { x0: full[0], x1: full[1] };
    var M = { l: 58, r: 12, t: 10, b: 40 };
    var drag = null;
    var W = 0, H = spec.height || 240;
    function sx(x) { return M.l + (x - view.x0) / (view.x1 - view.x0) * (W - M.l - M.r); }
    function sy(y) { return H - M.b - (y - ylo) / (yhi - ylo) * (H - M.t - M.b); }
    function ix(px) { return view.x0 + (px - M.l) / (W - M.l - M.r) * (view.x1 - view.x0); }
    function draw() {
      W = Math.max(320, el.clientWidth || 600);
      var dpr = window.devicePixelRatio || 1;
      canvas.width = W * dpr; canvas.height = H * dpr;
      canvas.style.width = W + "px"; canvas.style.height = H + "px";
      var g = canvas.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, W, H);
      g.font = "11px system-ui, sans-serif";
      g.fillStyle = "#5b6475"; g.strokeStyle = "#d9dee7"; g.lineWidth = 1;
      niceTicks(view.x0, view.x1, 8).forEach(function (t) {
        var x = sx(t);
        g.beginPath(); g.moveTo(x, M.t); g.lineTo(x, H - M.b); g.stroke();
        g.textAlign = "center"; g.fillText(fmt(t), x, H - M.b + 14);
      });
      if (!spec.rows) {
        niceTicks(ylo, yhi, 5).forEach(function (t) {
          var y = sy(t);
          g.beginPath(); g.moveTo(M.l, y); g.lineTo(W - M.r, y); g.stroke();
          g.textAlign = "right"; g.fillText(fmt(t), M.l - 5, y + 4);
        });
      } else {
        g.textAlign = "right";
        spec.series.forEach(function (s) {
          if (s.type === "ticks") { g.fillText(s.label || "", M.l - 5, sy(s.row) + 4); }
        });
      }
      g.fillStyle = "#1d2330"; g.textAlign = "center";
      g.fillText(spec.xlabel || "", M.l + (W - M.l - M.r) / 2, H - 8);
      g.save(); g.translate(12, M.t + (H - M.t - M.b) / 2); g.rotate(-Math.PI / 2);
      g.fillText(spec.rows ? "" : (spec.ylabel || ""), 0, 0); g.restore();
      g.save();
      g.beginPath(); g.rect(M.l, M.t, W - M.l - M.r, H - M.t - M.b); g.clip();
      spec.series.forEach(function (s) {
        g.strokeStyle = s.color || "#1d2330"; g.fillStyle = s.color || "#1d2330";
        if (s.type === "span") {
          g.globalAlpha = 0.12;
          g.fillRect(sx(s.x0), M.t, sx(s.x1) - sx(s.x0), H - M.t - M.b);
          g.globalAlpha = 1;
        } else if (s.type === "line") {
          g.lineWidth = s.width || 1; g.beginPath();
          var started = false;
          for (var i = 0; i < s.x.length; i++) {
            if (s.y[i] === null) { started = false; continue; }
            var px = sx(s.x[i]), py = sy(s.y[i]);
            if (!started) { g.moveTo(px, py); started = true; } else { g.lineTo(px, py); }
          }
          g.stroke();
          if (s.markers) {
            for (var k = 0; k < s.x.length; k++) {
              g.beginPath(); g.arc(sx(s.x[k]), sy(s.y[k]), 2.5, 0, 2 * Math.PI); g.fill();
            }
          }
        } else if (s.type === "points") {
          for (var p = 0; p < s.x.length; p++) {
            var cx = sx(s.x[p]), cy = sy(s.y[p]);
            g.beginPath();
            if (s.marker === "triangle") {
              g.moveTo(cx, cy - 4); g.lineTo(cx - 3.5, cy + 3); g.lineTo(cx + 3.5, cy + 3); g.closePath();
            } else { g.arc(cx, cy, 3, 0, 2 * Math.PI); }
            g.fill();
          }
        } else if (s.type === "ticks") {
          g.lineWidth = 1; g.beginPath();
          var yy = sy(s.row);
          for (var q = 0; q < s.x.length; q++) {
            var tx = sx(s.x[q]);
            if (tx < M.l - 1 || tx > W - M.r + 1) { continue; }
            g.moveTo(tx, yy - 7); g.lineTo(tx, yy + 7);
          }
          g.stroke();
        }
      });
      if (drag && drag.x1 !== undefined) {
        g.fillStyle = "rgba(46,93,159,0.15)";
        g.fillRect(Math.min(drag.x0, drag.x1), M.t, Math.abs(drag.x1 - drag.x0), H - M.t - M.b);
      }
      g.restore();
      g.strokeStyle = "#1d2330"; g.lineWidth = 1;
      g.strokeRect(M.l, M.t, W - M.l - M.r, H - M.t - M.b);
      el.setAttribute("data-x0", String(view.x0));
      el.setAttribute("data-x1", String(view.x1));
    }
    function setView(a, b) {
      var minSpan = (full[1] - full[0]) * 1e-5;
      if (b - a < minSpan) { var c = (a + b) / 2; a = c - minSpan / 2; b = c + minSpan / 2; }
      view.x0 = Math.max(full[0], a); view.x1 = Math.min(full[1], b);
      if (view.x1 <= view.x0) { view.x0 = full[0]; view.x1 = full[1]; }
      draw();
    }
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = canvas.getBoundingClientRect();
      var at = ix(e.clientX - r.left);
      var f = e.deltaY < 0 ? 0.8 : 1.25;
      setView(at - (at - view.x0) * f, at + (view.x1 - at) * f);
    }, { passive: false });
    canvas.addEventListener("mousedown", function (e) {
      var r = canvas.getBoundingClientRect();
      drag = { x0: e.clientX - r.left };
    });
    canvas.addEventListener("mousemove", function (e) {
      if (!drag) { return; }
      var r = canvas.getBoundingClientRect();
      drag.x1 = e.clientX - r.left; draw();
    });
    window.addEventListener("mouseup", function () {
      if (!drag) { return; }
      var d = drag; drag = null;
      if (d.x1 !== undefined && Math.abs(d.x1 - d.x0) > 4) {
        var a = ix(Math.min(d.x0, d.x1)), b = ix(Math.max(d.x0, d.x1));
        setView(a, b);
      } else { draw(); }
    });
    canvas.addEventListener("dblclick", function () { setView(full[0], full[1]); });
    reset.addEventListener("click", function () { setView(full[0], full[1]); });
    window.addEventListener("resize", draw);
    el.fmslabChart = { draw: draw, setView: setView, full: full };
    draw();
  }
  function drawCharts(root) {
    root.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
      if (!el.fmslabChart) { Chart(el); }
    });
  }
  // ---------------------------------------------------------------- pickers
  function initPickers() {
    document.querySelectorAll("select.viewpick").forEach(function (sel) {
      var box = document.getElementById(sel.getAttribute("data-views"));
      if (!box) { return; }
      function show() {
        Array.prototype.forEach.call(box.children, function (v) {
          if (v.id === sel.value) { v.removeAttribute("hidden"); drawCharts(v); }
          else { v.setAttribute("hidden", ""); }
        });
      }
      sel.addEventListener("change", show);
      show();
    });
  }
  function init() {
    initTools();
    initLightbox();
    initPickers();
    document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
      if (!el.closest("[hidden]")) { drawCharts(el.parentNode); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
"""
