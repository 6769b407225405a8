"""The app shell without a browser: pages render from the URL's state with pseudonymous ids and
texts as text; thumbnails come only from inside the landing folder, face boxes drawn."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from jobs.dashboard.app import DashboardConfig, create_app, default_range, image_inside, thumbnail_png
from jobs.dashboard.synthetic import SMALL, user_id
from jobs.report import pseudonymize

SALT = "test-salt"
DAY = "2026-02-01"  # a day of its own: the image posts stay apart from the synthetic ones
SCRIPT = "<script>alert(1)</script>"


def to_json(component) -> str:
    from plotly.io.json import to_json_plotly

    return to_json_plotly(component)


def write_image_posts(lake: Path, landing: Path, outside: Path) -> None:
    """One partition with three image posts: inside the landing folder, outside it, and a link out."""
    (landing / f"dt={DAY}" / "images").mkdir(parents=True)
    inside = landing / f"dt={DAY}" / "images" / "inside.png"
    Image.new("RGB", (100, 80), "white").save(inside)
    Image.new("RGB", (100, 80), "white").save(outside)
    link = landing / f"dt={DAY}" / "images" / "link.png"
    link.symlink_to(outside)
    posts = pa.table({"post_id": ["inside", "outside", "link", "dotdot"], "user_id": ["a"] * 4,
                      "image_path": [f"file://{inside}", str(outside), str(link), f"{landing}/dt={DAY}/../../{outside.name}"]})
    scores = pa.table({"post_id": ["inside"], "user_id": ["a"], "face_boxes": pa.array([[[10, 20, 30, 40]]], pa.list_(pa.list_(pa.int32())))})
    for table_name, table in (("posts", posts), ("scores", scores)):
        folder = lake / table_name / f"dt={DAY}" / f"landing_dt={DAY}"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")


@pytest.fixture(scope="module")
def served(analyst_lake: Path, tmp_path_factory: pytest.TempPathFactory):
    """One app for the module (Dash keeps page callbacks process-wide: one app per process)."""
    import shutil

    root = tmp_path_factory.mktemp("served")
    lake, landing = root / "lake", root / "landing"
    shutil.copytree(analyst_lake, lake)
    write_image_posts(lake, landing, root / "secret.png")
    config = DashboardConfig(lake=lake, landing=landing, salt=SALT)
    return create_app(config), config


def test_thumbnails_only_from_inside_the_landing_folder(served):
    app, _ = served
    client = app.server.test_client()
    response = client.get(f"/thumbnail/{DAY}/inside.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    for post_id in ("outside", "link", "dotdot"):
        assert client.get(f"/thumbnail/{DAY}/{post_id}.png").status_code == 403, post_id
    assert client.get(f"/thumbnail/{DAY}/missing.png").status_code == 404
    assert client.get("/thumbnail/not-a-day/inside.png").status_code == 400


def test_thumbnail_draws_the_face_box_in_red():
    source = io.BytesIO()
    Image.new("RGB", (100, 100), "white").save(source, format="PNG")
    pixels = np.asarray(Image.open(io.BytesIO(thumbnail_png(source.getvalue(), [[10, 20, 30, 40]], size=100))))
    assert tuple(pixels[20, 25]) == (230, 30, 30)  # on the top edge
    assert tuple(pixels[40, 25]) == (255, 255, 255)  # inside the box stays untouched


def test_image_inside_refuses_escapes(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.png").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    assert image_inside(landing, f"file://{landing}/a.png") == (landing / "a.png").resolve()
    assert image_inside(landing, f"{landing}/../b.png") is None
    assert image_inside(landing, f"{landing}/none.png") is None


def test_pages_show_pseudonyms_never_raw_ids(served):
    app, config = served
    from jobs.dashboard.pages import overview, transitions, user

    changed = user_id(5)
    with app.server.test_request_context("/"):
        pages = [overview.layout(start=SMALL.day_list[0]), transitions.layout(start=SMALL.day_list[0], sort="confidence:asc"),
                 user.layout(user_id=pseudonymize(changed, SALT))]
        rendered = [to_json(page) for page in pages]
    for page in rendered:
        assert changed not in page and "u00000" not in page
    assert pseudonymize(changed, SALT) in rendered[2] and "Evidence posts" in rendered[2]
    assert pseudonymize(changed, SALT) in rendered[1]


def test_raw_ids_only_when_the_configuration_allows(analyst_lake):
    config = DashboardConfig(lake=analyst_lake, landing=analyst_lake, salt=SALT, raw_user_ids=True)
    assert config.display_id("u0000005") == "u0000005"
    assert config.resolve_user("u0000005", None) == "u0000005"
    hashed = DashboardConfig(lake=analyst_lake, landing=analyst_lake, salt=SALT)
    assert hashed.resolve_user(pseudonymize("u0000005", SALT), None) == "u0000005"
    assert hashed.resolve_user("u0000005", None) is None  # a raw id in the URL opens nothing


def test_post_text_is_placed_as_text_and_scrubbed(served):
    app, config = served
    from jobs.dashboard.pages.user import _post_item

    post = pd.Series({"post_id": "p1", "created_at": pd.Timestamp("2026-03-01", tz="UTC"), "text": f"{SCRIPT} hi @u0000007",
                      "image_path": None, "fused_label": "joy", "text_top_tokens": ["<b>x</b>"], "dt": DAY})
    item = _post_item(post, "before", frozenset({"u0000007"}), SALT)
    paragraph = item.children[0]
    assert paragraph.children == f"{SCRIPT} hi @{pseudonymize('u0000007', SALT)}"  # a string child: React escapes it
    assert "dangerously_allow_html" not in to_json(item)


def test_url_state_defaults_to_the_last_two_weeks(analyst_lake):
    assert default_range(analyst_lake, None, None) == ((dt.date(2026, 3, 20) - dt.timedelta(days=13)).isoformat(), "2026-03-20")
    assert default_range(analyst_lake, "2026-03-10", "2026-03-01") == ("2026-03-01", "2026-03-10")
    assert default_range(analyst_lake, "bad", "2026-03-12")[1] == "2026-03-12"


def test_command_refuses_a_missing_lake(tmp_path):
    result = subprocess.run([sys.executable, "-m", "jobs.cli", "dashboard", "--lake", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no lake at" in result.stderr


def test_every_asset_is_served_by_the_app_itself(served):
    import re

    app, _ = served
    client = app.server.test_client()
    index = client.get("/").get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', index)
    assert sources and all(source.startswith("/") for source in sources), sources  # nothing from a CDN
    for source in sources:
        assert client.get(source).status_code == 200, source
    # dcc.Graph fetches plotly.js from the app when the first graph mounts
    assert client.get("/_dash-component-suites/plotly/package_data/plotly.min.js").status_code == 200


def test_cached_cohort_ranges_equal_the_direct_query(analyst_lake):
    from jobs.dashboard import queries

    config = DashboardConfig(lake=analyst_lake, landing=analyst_lake, salt=SALT)
    days = SMALL.day_list
    for start, end in ((days[0], days[-1]), (days[3], days[9]), (days[5], days[5])):
        pd.testing.assert_frame_equal(config.cohort_daily(start, end), queries.cohort_daily(analyst_lake, start, end))


def find(component, component_id: str):
    """The component with ``component_id`` in a Dash layout tree (None when absent)."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
        found = find(child, component_id)
        if found is not None:
            return found
    return None


def test_the_user_page_draws_the_forecast_against_the_actual_days(served):
    app, _ = served
    from jobs.dashboard.pages import user

    with app.server.test_request_context("/"):
        page = user.layout(user_id=pseudonymize(user_id(5), SALT))
    figure = find(page, "user-timeline").figure
    names = [trace["name"] for trace in figure["data"]]
    assert "forecast: top label" in names and "forecast joy" in names and "model surprise" in names
    assert find(page, "user-before-after") is not None


def test_run_health_lists_every_stage_run_with_the_planted_failures(served):
    app, _ = served
    from jobs.dashboard.pages import health
    from jobs.dashboard.synthetic import RUN_STAGES

    days = SMALL.day_list
    with app.server.test_request_context("/"):
        page = health.layout(start=days[0], end=days[-1])
    runs = find(page, "health-runs").data
    assert len(runs) == len(RUN_STAGES) * len(days) + 1
    assert {(run["stage"], run["date"], run["status"]) for run in runs if run["status"] != "succeeded"} == {
        ("score", days[2], "failed"), ("drift", days[-1], "unfinished")}
    failed = next(run for run in runs if run["status"] == "failed")
    assert failed["error"] and float(failed["duration_s"]) > 0
    problems = find(page, "health-problem-runs").data
    assert len(problems) == 2
    gates = find(page, "health-gates").data
    assert {gate["recorded"] for gate in gates} == {"succeeded"} and len(gates) == 2 * len(days)
    figure = find(page, "health-runs-figure").figure
    assert {trace["name"] for trace in figure["data"]} == {*RUN_STAGES, "failed", "unfinished"}


def test_cached_runs_equal_the_direct_query_and_follow_new_runs(synthetic_lake, tmp_path):
    import shutil

    from jobs.dashboard import queries
    from jobs.lake import append_run_record
    from jobs.settings import Settings

    lake = tmp_path / "lake"
    shutil.copytree(synthetic_lake, lake)
    config = DashboardConfig(lake=lake, landing=lake, salt=SALT)
    days = SMALL.day_list
    pd.testing.assert_frame_equal(config.stage_runs(days[0], days[-1]), queries.stage_runs(lake, days[0], days[-1]))
    append_run_record(Settings(lake=lake), {"run_id": "new", "stage": "report", "date": days[-1], "status": "started",
                                            "started_at": pd.Timestamp("2030-01-01", tz="UTC")})
    latest = config.stage_runs(days[-1], days[-1])
    assert latest.iloc[0]["run_id"] == "new" and latest.iloc[0]["status"] == "unfinished"  # a new file is read
