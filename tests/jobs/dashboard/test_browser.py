"""The served dashboard in a real headless browser (Debian chromium + chromedriver, Selenium):
every graph draws with data, the console stays clean, the transitions table filters, a row
opens its user, the evidence posts appear, and each view is photographed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# the shared sample lake (tests/conftest.py) is built with Spark and one Airflow DAG run
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.spark, pytest.mark.airflow]

REPO_ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--window-size=1400,1700")
# each graph in the page: drawn (plotly's svg present) and holding data (a trace with points)
GRAPHS = """
return [...document.querySelectorAll('#_pages_content .js-plotly-plot')].map(plot => ({
  id: plot.parentElement.id || plot.id,
  drawn: !!plot.querySelector('.main-svg'),
  points: (plot.data || []).reduce((total, trace) => total + ((trace.x || trace.y || []).length), 0),
}));
"""
PENDING = "return document.querySelectorAll('[data-dash-is-loading=\"true\"]').length"
# the names of one graph's traces and its title
TRACES = """
const plot = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
return {names: (plot.data || []).map(trace => trace.name), title: ((plot.layout || {}).title || {}).text || ''};
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(sample_pipeline) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "dashboard", "--lake", str(sample_pipeline["lake"]), "--landing",
         str(sample_pipeline["landing"]), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/_dash-layout", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"dashboard did not start:\n{process.stdout.read()[-3000:]}")
            time.sleep(0.3)
    yield base
    process.terminate()
    output, _ = process.communicate(timeout=30)
    assert "Traceback" not in output, output[-4000:]  # no callback failed on the server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMEDRIVER.exists() or shutil.which("chromium") is None:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_until(condition, timeout: float = 60.0, message: str = "") -> object:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:  # Dash re-rendered what we were reading: look again
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out: {message}")


def graphs_rendered(driver, expected: int) -> list[dict]:
    """Wait until ``expected`` graphs are drawn and nothing is loading; return them."""
    def ready():
        graphs = driver.execute_script(GRAPHS)
        done = len(graphs) >= expected and all(graph["drawn"] for graph in graphs) and not driver.execute_script(PENDING)
        return graphs if done else None

    return wait_until(ready, message=f"{expected} graphs on {driver.current_url}")


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get("EMODRIFT_UPDATE_SCREENSHOTS") == "1":  # refresh the ones the README shows
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)


def sequences_have_forecasts(lake: Path) -> bool:
    from jobs.dashboard import queries

    return queries.FORECAST_COLUMN in queries.sequence_columns(lake, None)


def test_two_clicks_from_the_transitions_to_a_users_posts(server, browser, sample_pipeline, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    shots = tmp_path_factory.mktemp("screenshots")

    # overview: three graphs, each with data
    browser.get(server + "/")
    graphs = graphs_rendered(browser, 3)
    assert [graph["id"] for graph in graphs] == ["overview-mix", "overview-activity", "overview-transitions"]
    assert all(graph["points"] > 0 for graph in graphs), graphs
    assert browser.find_elements(By.CSS_SELECTOR, "#overview-strongest a"), "no strongest-drift users listed"
    screenshot(browser, shots, "overview")
    assert console_errors(browser) == []

    # transitions: filter by minimum confidence through the form; the URL carries the filter
    browser.get(server + "/transitions")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#transitions-table td.dash-cell"), message="table rows")
    header = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#transitions-table th.dash-header")]
    confidence_column = next(index for index, name in enumerate(header) if name.strip() == "confidence")

    def read_confidences() -> list[float]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#transitions-table tr")
        cells = [row.find_elements(By.CSS_SELECTOR, "td.dash-cell") for row in rows]
        return [float(row[confidence_column].text) for row in cells if row]

    def confidences() -> list[float]:
        # a read can race a table re-render (stale elements): read again until one completes
        return wait_until(lambda: [read_confidences()], timeout=30, message="a complete table read")[0]

    before = confidences()
    threshold = sorted(before)[len(before) // 2]
    field = browser.find_element(By.ID, "transitions-min-confidence")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(threshold))
    browser.find_element(By.ID, "transitions-apply").click()
    wait_until(lambda: "min_confidence=" in browser.current_url, message="filter in the URL")
    wait_until(lambda: confidences() and all(value >= threshold for value in confidences()), message="filtered rows")
    after = confidences()
    assert 0 < len(after) <= len(before) and min(after) >= threshold
    screenshot(browser, shots, "transitions")
    assert console_errors(browser) == []

    # a reload of the same URL shows the same filtered table (the URL is the state)
    browser.get(browser.current_url)
    wait_until(lambda: confidences() == after, message="same rows after reload")

    # one click on a row opens that user: timeline with forecast and surprise, before/after, evidence posts
    def open_first_row() -> str:
        cell = browser.find_element(By.CSS_SELECTOR, "#transitions-table td.dash-cell")
        user = cell.text
        cell.click()
        return user

    first_user = wait_until(open_first_row, timeout=30, message="a click on the first row")
    wait_until(lambda: "/user/" in browser.current_url, message="user page opened")
    assert f"/user/{first_user}" in browser.current_url and first_user.startswith("user-")
    graphs = graphs_rendered(browser, 2)
    assert [graph["id"] for graph in graphs] == ["user-timeline", "user-before-after"]
    assert all(graph["points"] > 0 for graph in graphs), graphs
    timeline = browser.execute_script(TRACES, "user-timeline")
    assert "model surprise" in timeline["names"], timeline
    if sequences_have_forecasts(sample_pipeline["lake"]):  # the drift stage stores the model's forecast per day
        assert "forecast: top label" in timeline["names"], timeline
    else:  # an older drift stage: the surprise alone, and the page says why
        assert not any(name.startswith("forecast") for name in timeline["names"]) and "not in this lake" in timeline["title"]
    posts = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".evidence-post .post-text"), message="evidence posts")
    assert any(post.text.strip() for post in posts)
    assert not browser.find_elements(By.CSS_SELECTOR, ".evidence-post script")  # texts are text
    for image in browser.find_elements(By.CSS_SELECTOR, ".evidence-post img.thumbnail"):  # served from the landing folder
        wait_until(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image),
                   timeout=20, message=f"thumbnail {image.get_attribute('src')}")
    screenshot(browser, shots, "user")
    assert console_errors(browser) == []

    # run health: every stage's runs (runs table), counts per stage and quarantine reasons drawn, quality gates listed
    browser.get(server + "/health")
    graphs = graphs_rendered(browser, 3)
    assert [graph["id"] for graph in graphs] == ["health-runs-figure", "health-counts", "health-quarantine"]
    assert all(graph["points"] > 0 for graph in graphs), graphs
    stages = set(browser.execute_script(TRACES, "health-runs-figure")["names"])
    assert {"ingest", "check-ingest", "score", "check-score", "drift", "report"} <= stages, stages
    runs = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#health-runs td.dash-cell"), message="runs")
    assert any(cell.text == "succeeded" for cell in runs)
    gates = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#health-gates td.dash-cell"), message="gates")
    assert any(cell.text == "ok" for cell in gates)
    screenshot(browser, shots, "health")
    assert console_errors(browser) == []

    # try a post: the project's models read a pasted text
    browser.get(server + "/try")
    wait_until(lambda: browser.find_elements(By.ID, "try-text"), message="try-a-post form")
    browser.find_element(By.ID, "try-text").send_keys("I am so happy and grateful today, what a wonderful surprise")
    browser.find_element(By.ID, "try-score").click()
    graphs = graphs_rendered(browser, 1)
    assert graphs[0]["points"] > 0
    assert "Fused:" in browser.find_element(By.ID, "try-summary").text
    assert browser.find_element(By.ID, "try-tokens").text.startswith("Top tokens:")
    screenshot(browser, shots, "try_a_post")
    assert console_errors(browser) == []


def test_the_static_snapshot_loads_its_local_plotly(sample_pipeline, browser):
    """The nightly page opens from disk, offline, drawing every figure with the shared plotly.js."""
    page = sorted((sample_pipeline["lake"] / "reports").glob("dt=*/dashboard.html"))[-1]
    assert page.stat().st_size < 1_000_000
    browser.get(page.as_uri())
    figures = page.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    wait_until(lambda: len(browser.find_elements("css selector", ".plotly-graph-div .main-svg")) >= figures,
               message="static figures drawn")
    assert console_errors(browser) == []

