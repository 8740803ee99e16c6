"""The report in a real headless browser: Debian's Chromium + chromedriver, driven by Selenium.

CI installs both (``.ci/run``: ``apt-get install -y chromium chromium-driver``). Without them the
test fails when the ``CI`` environment variable is set and is skipped locally. A full-page screenshot
is kept as ``test-artifacts/report.png`` in the repository (git-ignored).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import REPO
from fmslab.report import build_report
from report_study import analysed_sample_study

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,1000",
)  # fmt: skip


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


@pytest.fixture(scope="module")
def page(tmp_path_factory, driver):
    study = analysed_sample_study(tmp_path_factory)
    res = build_report(study, tmp_path_factory.mktemp("browser") / "report")
    driver.get(res.index.resolve().as_uri())
    return study, res


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


def header(driver, table_id: str, name: str):
    from selenium.webdriver.common.by import By

    ths = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")
    names = [th.text.strip() for th in ths]
    i = names.index(name)
    return i, ths[i]


def catalog(study: Path, name: str) -> pd.DataFrame:
    con = duckdb.connect(str(study / "results" / "fmslab.duckdb"), read_only=True)
    try:
        return con.execute(f'SELECT * FROM "{name}"').df()
    finally:
        con.close()


def test_loads_without_console_errors_and_screenshot(driver, page):
    study, _ = page
    assert driver.title == "fmslab sample study"
    assert driver.execute_script("return document.readyState") == "complete"
    # the sorter ran: every header of every sortable table got its tooltip
    untitled = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.sortable thead th'))"
        ".filter(th => th.getAttribute('title') !== 'Click to sort').length"
    )
    assert untitled == 0
    ARTIFACTS.mkdir(exist_ok=True)
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
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    logs = driver.get_log("browser")
    errors = [e for e in logs if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


def test_tables_render_rows(driver, page):
    study, _ = page
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


def test_images_render(driver, page):
    study, _ = page
    imgs = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    assert len(imgs) == len(list((study / "results" / "ephys" / "figures").glob("*.png"))) == 4
    for alt, complete, width in imgs:
        assert complete and width > 0, alt
