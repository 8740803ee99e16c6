"""The report in a real headless browser: Debian's Chromium + chromedriver, driven by Selenium.

CI installs both (``.ci/run``: ``apt-get install -y chromium chromium-driver``). Without them the
test fails when the ``CI`` environment variable is set and is skipped locally. Screenshots are kept
in ``test-artifacts/`` in the repository (git-ignored): ``report.png`` (full page) and
``report_first_screen.png`` (what a reader sees on opening the page).

One report is built for the whole module: the real sample study (catalog + ephys analysis), a
reviewer's ``qc_overrides`` decision, and a comparison (``fmslab compare``) of a cells table of the
study's mice, so that findings, panels and the override are all on the page.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from fmslab.report import build_report
from report_study import analysed_sample_study, run_cli

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,1000",
)  # fmt: skip
OVERRIDE = "cell,M02_c1,,exclude,seal lost after sweep 12,A. Reviewer,2026-03-10\n"


def _missing(reason: str) -> None:
    msg = (
        f"{reason}: the browser test needs Debian's chromium and chromium-driver "
        "(apt-get install -y chromium chromium-driver) and selenium (pip install -e '.[test]')"
    )
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if not browser or not chromedriver:
        _missing(f"chromium ({browser}) or chromedriver ({chromedriver}) not found on PATH")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in CHROMIUM_ARGS:
        opts.add_argument(arg)
    opts.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager (which would download drivers) is never used
    drv = webdriver.Chrome(options=opts, service=Service(executable_path=chromedriver))
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


def _cells_table(path: Path) -> Path:
    """Four cells per mouse of the sample study (T-A: M01, M02 = FMS; T-B: M03, M04 = HC)."""
    rng = np.random.default_rng(7)
    rows = []
    for mouse, shift in (("M01", -20), ("M02", -25), ("M03", 0), ("M04", 5)):
        for c in range(4):
            rows.append((f"{mouse}_c{c}", mouse, 80 + shift + float(rng.normal(0, 8)),
                         -60 + float(rng.normal(0, 3))))  # fmt: skip
    cols = ["cell_id", "mouse_id", "rheobase_pA", "rmp_mV"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory, driver):
    base = analysed_sample_study(tmp_path_factory)
    study = tmp_path_factory.mktemp("browser") / "study"
    shutil.copytree(base, study, ignore=shutil.ignore_patterns("report", "*.lock"))
    (study / "qc_overrides.csv").write_text(
        "level,id,file,action,reason,reviewer,date\n" + OVERRIDE
    )
    run_cli("study", "catalog", str(study))
    table = _cells_table(study / "cells.csv")
    run_cli(
        "compare", str(table), "--study", str(study), "-o", "rheobase_pA", "-o", "rmp_mV",
        "--levels", "mouse", "--n-boot", "300", "--reference", "HC",
        "--out", str(study / "results" / "compare"),
    )  # fmt: skip
    res = build_report(study, study / "results" / "report")
    driver.get(res.index.resolve().as_uri())
    return study, res


def catalog(study: Path, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True)
    try:
        return con.execute(f'SELECT * FROM "{name}"').df()
    finally:
        con.close()


def column_values(driver, table_id: str, col: int) -> list[str]:
    return driver.execute_script(
        """const t = document.getElementById(arguments[0]);
           return Array.from(t.tBodies[0].rows).map(r => {
             const c = r.cells[arguments[1]];
             const v = c.getAttribute('data-v');
             return v === null ? c.textContent.trim() : v; });""",
        table_id,
        col,
    )


def open_block(driver, table_id: str) -> None:
    """Open the collapsed block holding a table and show all its columns."""
    driver.execute_script(
        """const t = document.getElementById(arguments[0]);
           t.closest('details').open = true;
           const sel = t.closest('details').querySelector('select.tcols');
           if (sel) { sel.value = '*'; sel.dispatchEvent(new Event('change')); }""",
        table_id,
    )


def header(driver, table_id: str, name: str):
    from selenium.webdriver.common.by import By

    open_block(driver, table_id)
    ths = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")
    names = [th.text.strip() for th in ths]
    i = names.index(name)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", ths[i])
    return i, ths[i]


def _shown_within(shown: str, value: float) -> bool:
    """A rounded number as displayed agrees with the exact value to its last digit."""
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - value) <= 0.5 * 10**-decimals + 1e-12


def test_first_screen_opens_with_the_findings_and_screenshot(driver, page):
    study, _ = page
    assert driver.title == "fmslab sample study"
    assert driver.execute_script("return document.readyState") == "complete"
    # the findings block is the first section and its first sentence is on the first screen
    first = driver.execute_script(
        "const s = document.querySelector('main section'); const f = s.querySelector('.finding');"
        "return [s.id, f.getBoundingClientRect().top, window.innerHeight, f.innerText];"
    )
    assert first[0] == "findings" and 0 < first[1] < first[2]
    assert "lower with FMS than with HC" in first[3]
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "report_first_screen.png"))
    assert (ARTIFACTS / "report_first_screen.png").stat().st_size > 10_000
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics["cssContentSize"]
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 7000),
                     "scale": 1},
        },
    )  # fmt: skip
    (ARTIFACTS / "report.png").write_bytes(base64.b64decode(shot["data"]))


_SENTENCE = re.compile(
    r"^(?P<name>.+?) was (?P<est>[\d.]+) (?P<unit>\S+) (?P<dir>higher|lower) with (?P<trt>\S+) "
    r"than with (?P<ref>\S+) \(95% CI (?P<lo>-?[\d.]+) to (?P<hi>-?[\d.]+) (?P=unit); "
    r"(?P<model>[^;]+); (?P<nt>\d+) vs (?P<nr>\d+) mice, (?P<nobs>\d+) cells; "
    r"p (?P<pop>[=<]) (?P<p>[\d.]+)\)\."
)


def test_findings_text_matches_the_statistics_table(driver, page):
    study, _ = page
    stats = catalog(study, "compare_stats")
    primary = stats[stats["primary"]].set_index("outcome")
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#findings .finding[data-outcome]'))"
        ".map(f => [f.getAttribute('data-outcome'), f.querySelector('.sentence').innerText]);"
    )
    assert sorted(o for o, _ in found) == sorted(primary.index)
    for outcome, text in found:
        row = primary.loc[outcome]
        m = _SENTENCE.match(text)
        assert m, text
        est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
        assert m["dir"] == ("lower" if est < 0 else "higher")
        assert (m["trt"], m["ref"]) == (row["treatment"], row["reference"]) == ("FMS", "HC")
        assert _shown_within(m["est"], abs(est))
        # the interval of the decrease (lower) is the sign-flipped interval of the difference
        want_lo, want_hi = (-hi, -lo) if est < 0 else (lo, hi)
        assert _shown_within(m["lo"], want_lo) and _shown_within(m["hi"], want_hi)
        assert (int(m["nt"]), int(m["nr"])) == (row["n_mice_trt"], row["n_mice_ref"])
        assert int(m["nobs"]) == row["n_obs_trt"] + row["n_obs_ref"]
        assert m["model"] == "mixed model" and row["model"] == "lmm"
        if m["pop"] == "<":
            assert row["p"] < float(m["p"])
        else:
            assert _shown_within(m["p"], row["p"])
        assert m["unit"] == {"rheobase_pA": "pA", "rmp_mV": "mV"}[outcome]
    # the override left one FMS cell out of the comparison: 8 - 1
    assert primary.loc["rheobase_pA", "n_obs_trt"] == 7
    # forest plot: one point per outcome at the Hedges g of the statistics table
    g = stats[stats["model"] == "bootstrap_hedges_g"].set_index("outcome")["estimate"]
    dots = driver.execute_script(
        "return Array.from(document.querySelectorAll('svg.forest circle'))"
        ".map(c => [c.getAttribute('data-outcome'), Number(c.getAttribute('data-g'))]);"
    )
    assert dict(dots) == pytest.approx(g.to_dict(), rel=1e-12)


def _chart_state(driver, chart_id: str):
    return driver.execute_script(
        """const el = document.getElementById(arguments[0]);
           const c = el.querySelector('canvas');
           const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
           let dark = 0;
           for (let i = 0; i < d.length; i += 4) {
             if (d[i + 3] > 0 && d[i] < 80 && d[i + 1] < 80 && d[i + 2] < 100) { dark++; } }
           const r = c.getBoundingClientRect();
           return {x0: Number(el.dataset.x0), x1: Number(el.dataset.x1), dark: dark,
                   w: r.width, h: r.height, left: r.left, top: r.top};""",
        chart_id,
    )


def test_trace_viewer_renders_and_zooms(driver, page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    study, _ = page
    cells = catalog(study, "ephys_cells")
    Select(driver.find_element(By.ID, "cell-pick")).select_by_value("cell-0")
    chart = "cell-0-trace-0"
    el = driver.find_element(By.ID, chart)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    s0 = _chart_state(driver, chart)
    assert s0["w"] > 300 and s0["h"] > 150 and s0["dark"] > 200  # axes and the trace were drawn
    sweeps = catalog(study, "ephys_sweeps")
    first = sweeps[sweeps["file"] == cells["file"].iloc[0]]
    # the full x range is the sweep (ms): from 0 to its duration, to a sample
    assert s0["x0"] == pytest.approx(0, abs=1.0)
    assert s0["x1"] == pytest.approx(first["duration_s"].iloc[0] * 1e3, rel=0.01)
    # wheel up over the middle: 0.8x the range around the cursor
    driver.execute_script(
        """const c = document.querySelector('#' + arguments[0] + ' canvas');
           const r = c.getBoundingClientRect();
           c.dispatchEvent(new WheelEvent('wheel', {deltaY: -100, clientX: r.left + r.width / 2,
             clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));""",
        chart,
    )
    s1 = _chart_state(driver, chart)
    assert (s1["x1"] - s1["x0"]) == pytest.approx(0.8 * (s0["x1"] - s0["x0"]), rel=1e-6)
    # drag across a quarter of the plot: the range shrinks to what was selected
    canvas = el.find_element(By.TAG_NAME, "canvas")
    w = s1["w"]
    ActionChains(driver).move_to_element_with_offset(canvas, int(-w * 0.1), 0).click_and_hold()\
        .move_by_offset(int(w * 0.25), 0).release().perform()  # fmt: skip
    s2 = _chart_state(driver, chart)
    assert s2["x1"] - s2["x0"] < 0.45 * (s1["x1"] - s1["x0"])
    assert s1["x0"] <= s2["x0"] < s2["x1"] <= s1["x1"]
    assert s2["dark"] > 50  # still drawn
    ActionChains(driver).double_click(canvas).perform()
    s3 = _chart_state(driver, chart)
    assert (s3["x0"], s3["x1"]) == (s0["x0"], s0["x1"])


def test_overridden_cell_is_shown_excluded(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    study, _ = page
    cells = catalog(study, "ephys_cells")
    i = cells["cell_id"].tolist().index("M02_c1")
    Select(driver.find_element(By.ID, "cell-pick")).select_by_value(f"cell-{i}")
    panel = driver.find_element(By.ID, f"cell-{i}")
    assert panel.is_displayed()
    assert (
        "Excluded by A. Reviewer on 2026-03-10: seal lost after sweep 12"
        in panel.find_element(By.CSS_SELECTOR, ".override").text
    )
    open_block(driver, "tbl-qc_overrides")
    col, _ = header(driver, "tbl-qc_overrides", "reason")
    assert column_values(driver, "tbl-qc_overrides", col) == ["seal lost after sweep 12"]


def test_table_search_filters_rows(driver, page):
    from selenium.webdriver.common.by import By

    study, _ = page
    sweeps = catalog(study, "ephys_sweeps")
    open_block(driver, "tbl-ephys_sweeps")
    box = driver.find_element(By.CSS_SELECTOR, '.tabletools[data-table="tbl-ephys_sweeps"] input')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    box.clear()
    box.send_keys("stim_pA>100 stim_kind:step")
    visible = driver.execute_script(
        "return Array.from(document.getElementById('tbl-ephys_sweeps').tBodies[0].rows)"
        ".filter(r => r.style.display !== 'none').length;"
    )
    assert visible == int(((sweeps["stim_pA"] > 100) & (sweeps["stim_kind"] == "step")).sum()) > 0
    box.clear()
    box.send_keys(" ")
    driver.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)


def test_column_subsets_per_audience(driver, page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from fmslab.report.columns import SUBSETS

    study, _ = page
    stats = catalog(study, "compare_stats")
    open_block(driver, "tbl-compare_stats")
    bar = driver.find_element(By.CSS_SELECTOR, '.tabletools[data-table="tbl-compare_stats"]')
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    Select(bar.find_element(By.TAG_NAME, "select")).select_by_index(0)  # PI summary
    shown = driver.execute_script(
        "return Array.from(document.querySelectorAll('#tbl-compare_stats thead th'))"
        ".filter(th => th.offsetParent !== null).map(th => th.textContent.trim());"
    )
    want = [c for c in SUBSETS["compare_stats"]["PI summary"] if c in stats.columns]
    assert shown == [c for c in stats.columns if c in want]  # table order, the audience's columns
    Select(bar.find_element(By.TAG_NAME, "select")).select_by_value("*")
    n_all = driver.execute_script(
        "return Array.from(document.querySelectorAll('#tbl-compare_stats thead th'))"
        ".filter(th => th.offsetParent !== null).length;"
    )
    assert n_all == len(stats.columns)


def test_tables_render_rows(driver, page):
    study, _ = page
    for name in ("ephys_cells", "ephys_sweeps", "mice", "recordings", "runs", "inputs"):
        open_block(driver, f"tbl-{name}")
    counts = driver.execute_script(
        "const o = {}; document.querySelectorAll('table.sortable').forEach(t => "
        "{ o[t.id] = [t.tBodies[0].rows.length, t.getBoundingClientRect().height]; }); return o;"
    )
    for name in ("ephys_cells", "ephys_sweeps", "mice", "recordings", "runs", "inputs"):
        n_rows, height = counts[f"tbl-{name}"]
        assert n_rows == len(catalog(study, name)), name
        assert height > 20 * min(n_rows, 5), name  # laid out, not hidden


def test_click_header_sorts_numeric_column(driver, page):
    study, _ = page
    sweeps = catalog(study, "ephys_sweeps")
    col, th = header(driver, "tbl-ephys_sweeps", "stim_pA")
    th.click()
    assert th.get_attribute("aria-sort") == "ascending"
    got = [float(v) for v in column_values(driver, "tbl-ephys_sweeps", col)]
    # numeric order (text order would put "100" before "20" and "-50" after "-100" wrongly), checked
    # against Python's numeric sort of the catalog column
    assert got == sorted(sweeps["stim_pA"].tolist())
    th.click()
    assert th.get_attribute("aria-sort") == "descending"
    got = [float(v) for v in column_values(driver, "tbl-ephys_sweeps", col)]
    assert got == sorted(sweeps["stim_pA"].tolist(), reverse=True)


def test_click_header_sorts_with_missing_last_and_rows_intact(driver, page):
    study, _ = page
    cells = catalog(study, "ephys_cells")
    col, th = header(driver, "tbl-ephys_cells", "rheobase_pA")
    th.click()
    vals = column_values(driver, "tbl-ephys_cells", col)
    present = cells["rheobase_pA"].dropna().tolist()
    assert [float(v) for v in vals[: len(present)]] == sorted(present)
    assert vals[len(present) :] == [""] * int(cells["rheobase_pA"].isna().sum())
    # whole rows move: file and cell_id still belong together
    fcol, _ = header(driver, "tbl-ephys_cells", "file")
    ccol, _ = header(driver, "tbl-ephys_cells", "cell_id")
    pairs = set(
        zip(
            column_values(driver, "tbl-ephys_cells", fcol),
            column_values(driver, "tbl-ephys_cells", ccol),
            strict=True,
        )
    )
    assert pairs == set(zip(cells["file"], cells["cell_id"], strict=True))
    # text column: natural order (numbers inside names compare as numbers), by hand
    _, fth = header(driver, "tbl-ephys_cells", "file")
    fth.click()
    assert column_values(driver, "tbl-ephys_cells", fcol) == [
        "17o05027_ic_ramp.abf",
        "171116sh_0016.abf",
        "18711001.abf",
        "File_axon_5.abf",
    ]


def test_images_render_and_enlarge(driver, page):
    from selenium.webdriver.common.by import By

    study, _ = page
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    imgs = driver.execute_script(
        "return Array.from(document.images).filter(i => !i.closest('.lightbox'))"
        ".map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    pngs = list((study / "results" / "ephys" / "figures").glob("*.png"))
    assert {f"ephys/figures/{p.name}" for p in pngs} <= {a for a, _, _ in imgs}
    assert len(pngs) == 4
    for alt, complete, width in imgs:
        assert complete and width > 0, alt
    img = driver.find_element(By.CSS_SELECTOR, "#figures img.zoomable")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    img.click()
    box = driver.find_element(By.CSS_SELECTOR, ".lightbox")
    assert box.is_displayed()
    assert box.find_element(By.TAG_NAME, "img").get_attribute("src") == img.get_attribute("src")
    box.click()
    assert not box.is_displayed()


def test_no_console_errors(driver, page):
    # last: every interaction above has run on the page
    logs = driver.get_log("browser")
    errors = [e for e in logs if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
