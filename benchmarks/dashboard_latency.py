"""Dashboard latency at scale: time to first render of each view and the server's peak memory.

Writes a synthetic lake of ``--users`` x ``--days`` (the pipeline's table layout, written with
pyarrow: see jobs/dashboard/synthetic.py), serves it with ``emodrift dashboard`` in a child
process and loads each view ``--loads`` times in headless Debian chromium (Selenium). A load is
timed from navigation start until every graph on the page has drawn its SVG (and the table has
its rows) with no Dash callback still pending: once as a full page load (scripts included), once
as an in-app navigation from another view (what a click on a row or link does), with the server's
share of the full load from the browser's resource timing. Peak memory is the server's VmHWM.

Run: .venv/bin/python benchmarks/dashboard_latency.py [--users 100000] [--days 90] [--loads 5]
     [--lake /tmp/emodrift-dashboard-bench] [--regenerate]
Goals: overview and transitions < 2 s, user drill-down < 1 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from jobs.dashboard.synthetic import LAYOUT_VERSION, SyntheticLake, write_synthetic_lake

GOALS = {"overview": 2.0, "transitions": 2.0, "user": 1.0, "health": None}
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--window-size=1400,1600")
RENDERED = """
const plots = [...document.querySelectorAll('#_pages_content .js-plotly-plot')];
const pending = document.querySelectorAll('[data-dash-is-loading="true"]').length;
const drawn = plots.filter(plot => plot.querySelector('.main-svg')).length;
const rows = document.querySelectorAll('#transitions-table td.dash-cell').length;
return {plots: plots.length, drawn: drawn, rows: rows, pending: pending, marker: !!document.getElementById(arguments[0])};
"""
# in-app navigation, as a click on a link or a table row does it (no page reload)
NAVIGATE = "window.history.pushState({}, '', arguments[0]); window.dispatchEvent(new PopStateEvent('popstate'));"
# server time of the page's layout callback: the slowest _dash-update-component of the load
SERVER_SECONDS = """
const calls = performance.getEntriesByType('resource').filter(entry => entry.name.includes('_dash-update-component'));
return calls.length ? Math.max(...calls.map(entry => entry.responseStart - entry.requestStart)) / 1000 : null;
"""


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_server(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"dashboard did not answer at {url} within {timeout:.0f} s")


def wait_rendered(driver, started: float, marker: str, plots: int, table: bool, timeout: float = 60.0) -> float:
    """Seconds since ``started`` until the view's marker, ``plots`` drawn graphs (and table rows), nothing pending."""
    state: dict = {}
    while time.perf_counter() - started < timeout:
        state = driver.execute_script(RENDERED, marker)
        if (state["marker"] and state["drawn"] >= plots and state["plots"] >= plots and (not table or state["rows"])
                and not state["pending"]):
            return time.perf_counter() - started
        time.sleep(0.02)
    raise RuntimeError(f"{driver.current_url} did not render within {timeout:.0f} s: {state}")


def time_load(driver, url: str, marker: str, plots: int, table: bool) -> tuple[float, float | None]:
    """A full page load (HTML, scripts, layout, callbacks, drawing): (seconds, server seconds)."""
    started = time.perf_counter()
    driver.get(url)
    return wait_rendered(driver, started, marker, plots, table), driver.execute_script(SERVER_SECONDS)


def time_navigation(driver, base: str, url: str, marker: str, plots: int, table: bool) -> float:
    """In-app navigation from another view (what a click on a row or a link does)."""
    driver.execute_script(NAVIGATE, f"{base}/try")
    wait_rendered(driver, time.perf_counter(), "try-text", 0, False)
    started = time.perf_counter()
    driver.execute_script(NAVIGATE, url)
    return wait_rendered(driver, started, marker, plots, table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--loads", type=int, default=5, help="timed loads per view (after one warm-up)")
    parser.add_argument("--lake", type=Path, default=Path("/tmp/emodrift-dashboard-bench/lake"))
    parser.add_argument("--regenerate", action="store_true", help="rewrite the lake even when its shape matches")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    shape = SyntheticLake(users=args.users, days=args.days, end=dt.date(2026, 3, 31), seed=0)
    stamp = args.lake / "shape.json"
    wanted = json.dumps({**dataclasses.asdict(shape), "end": shape.end.isoformat(), "layout": LAYOUT_VERSION}, sort_keys=True)
    if args.regenerate or not stamp.exists() or stamp.read_text() != wanted:
        shutil.rmtree(args.lake, ignore_errors=True)
        started = time.perf_counter()
        counts = write_synthetic_lake(args.lake, shape)
        stamp.write_text(wanted)
        size = sum(path.stat().st_size for path in args.lake.rglob("*.parquet"))
        print(f"wrote {args.lake}: {counts} ({size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s")
    else:
        print(f"reusing {args.lake} ({args.users} users x {args.days} days)")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "jobs.cli", "dashboard", "--lake", str(args.lake), "--landing",
                               str(args.lake.parent / "landing"), "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = None
    try:
        wait_for_server(f"{base}/_dash-layout")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        start = (shape.end - dt.timedelta(days=13)).isoformat()
        change_day = shape.day_list[shape.change_day_index]
        # a changed user (every change_every-th), shown by its keyed hash as the app shows it
        from jobs.dashboard.app import DashboardConfig
        from jobs.settings import Settings

        shown = DashboardConfig(lake=args.lake, landing=args.lake, salt=Settings().pseudonym_salt).display_id(f"u{shape.change_every * 4321:07d}")
        views = {
            "overview": (f"{base}/?start={start}&end={shape.end}", "overview-mix", 3, False),
            "transitions": (f"{base}/transitions?start={change_day}&end={shape.end}&min_confidence=0.6&sort=score:desc",
                            "transitions-table", 0, True),
            "user": (f"{base}/user/{shown}?end={shape.end}", "user-timeline", 2, False),
            "health": (f"{base}/health?start={start}&end={shape.end}", "health-runs-figure", 3, False),
        }
        results = {}
        for name, (url, marker, plots, table) in views.items():
            first, _ = time_load(driver, url, marker, plots, table)  # cold: the view's first query
            loads = [time_load(driver, url, marker, plots, table) for _ in range(args.loads)]
            navigations = [time_navigation(driver, base, url, marker, plots, table) for _ in range(args.loads)]
            results[name] = {
                "first_s": first, "median_s": statistics.median(seconds for seconds, _ in loads),
                "max_s": max(seconds for seconds, _ in loads),
                "server_s": statistics.median(server for _, server in loads if server is not None),
                "navigation_s": statistics.median(navigations), "goal_s": GOALS[name],
            }
        peak = peak_rss_mib(server.pid)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
    print(f"{args.users} users x {args.days} days, {args.loads} loads per view after a first (cold) load; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("  view         first load | full load: median (max), of it server | in-app navigation: median")
    for name, result in results.items():
        goal = result["goal_s"]
        verdict = "" if goal is None else (" (goal < %.0f s: %s)" % (goal, "met" if result["median_s"] < goal else "MISSED"))
        print(f"  {name:<12} {result['first_s']:.2f} s | {result['median_s']:.2f} s ({result['max_s']:.2f}), "
              f"server {result['server_s']:.2f} s | {result['navigation_s']:.2f} s{verdict}")
    print(f"  server peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
