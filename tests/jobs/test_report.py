"""The dashboard: pseudonymous, escaped, honest about missing inputs, figures that match the data."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.report import (
    DashboardInputs,
    build_dashboard,
    cohort_mix,
    cohort_mix_figure,
    empty_frame,
    example_posts,
    load_inputs,
    main,
    pseudonymize,
    quarantine_reasons_figure,
    rank_transitions,
    read_cohort_summary,
    run,
    summarize_cohort,
    transition_matrix_figure,
    transitions_table_figure,
    EXAMPLE_COLUMNS,
    SEQUENCE_COLUMNS,
    TRANSITION_COLUMNS,
)
from jobs.settings import Settings
from models.labels import LABELS

RUN_DATE = dt.date(2026, 1, 4)
SALT = "test-salt"
RAW_IDS = ("alice_raw_01", "bob_raw_02", "carol_raw_03")
SCRIPT = "<script>alert(1)</script>"


def one_hot(label: str, weight: float = 0.8) -> list[float]:
    rest = (1.0 - weight) / (len(LABELS) - 1)
    return [weight if name == label else rest for name in LABELS]


def sequences_frame() -> pd.DataFrame:
    rows = []
    for day_offset in range(4):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=day_offset)
        rows.append(("alice_raw_01", day, 2, one_hot("joy" if day_offset < 2 else "sadness"), None, None))
        rows.append(("bob_raw_02", day, 1, one_hot("anger" if day_offset < 3 else "joy"), None, None))
    frame = pd.DataFrame(rows, columns=list(SEQUENCE_COLUMNS))
    frame["dominant_label"] = [LABELS[int(np.argmax(probs))] for probs in frame["probs"]]
    return frame


def transitions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("alice_raw_01", "2026-01-03", "joy", "sadness", 0.6, 0.9, 4, 4, "cusum", "v1"),
            ("bob_raw_02", "2026-01-04", "anger", "joy", 0.9, 0.95, 3, 1, "cusum", "v1"),
            ("carol_raw_03", "2026-01-02", "joy", "sadness", 0.3, 0.5, 2, 2, "cusum", "v1"),
        ],
        columns=list(TRANSITION_COLUMNS),
    )


def posts_frame() -> pd.DataFrame:
    rows = [
        ("p1", "alice_raw_01", pd.Timestamp("2026-01-01T10:00Z"), "what a lovely morning with @bob_raw_02", None, one_hot("joy", 0.9), "joy", ["lovely", "morning"]),
        ("p2", "alice_raw_01", pd.Timestamp("2026-01-02T10:00Z"), "pretty good day", None, one_hot("joy", 0.6), "joy", ["good"]),
        ("p3", "alice_raw_01", pd.Timestamp("2026-01-03T10:00Z"), SCRIPT, None, one_hot("sadness", 0.7), "sadness", ["<b>token</b>"]),
        ("p4", "alice_raw_01", pd.Timestamp("2026-01-04T10:00Z"), None, "file:///x/images/p4.png", one_hot("sadness", 0.5), "sadness", None),
        ("p5", "bob_raw_02", pd.Timestamp("2026-01-01T10:00Z"), "so annoyed at alice_raw_01", None, one_hot("anger"), "anger", ["annoyed"]),
    ]
    return pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))


def manifests() -> tuple[dict, ...]:
    return (
        {"landing_dt": "2026-01-03", "read": 50, "accepted": 45, "quarantined": 3, "duplicates": 2,
         "quarantine_reasons": {"bad_json": 1, "image_missing": 2}},
        {"landing_dt": "2026-01-04", "read": 60, "accepted": 55, "quarantined": 4, "duplicates": 1,
         "quarantine_reasons": {"bad_json": 3, "wrong_type": 1}},
    )


def full_inputs() -> DashboardInputs:
    return DashboardInputs(RUN_DATE, sequences_frame(), transitions_frame(), posts_frame(), manifests())


def test_pseudonym_is_a_keyed_hash_prefix() -> None:
    # reference value computed outside this code: printf %s alice_raw_01 | openssl dgst -sha256 -hmac test-salt
    assert pseudonymize("alice_raw_01", SALT) == "user-cc0df5b9d8"
    pseudonym = pseudonymize("alice_raw_01", SALT)
    assert pseudonym.startswith("user-") and len(pseudonym) == 15
    assert all(character in "0123456789abcdef" for character in pseudonym[5:])
    assert pseudonym == pseudonymize("alice_raw_01", SALT)
    assert pseudonym != pseudonymize("alice_raw_01", "other-salt")
    assert pseudonym != pseudonymize("bob_raw_02", SALT)


def test_no_raw_user_id_appears_anywhere_in_the_page() -> None:
    page = build_dashboard(full_inputs(), salt=SALT, plotly_js="")
    for raw_id in RAW_IDS:
        assert raw_id not in page
    # bob is mentioned in alice's text and alice in bob's: both come out as pseudonyms
    assert f"@{pseudonymize('bob_raw_02', SALT)}" in page
    for raw_id in RAW_IDS[:2]:
        assert pseudonymize(raw_id, SALT) in page


def test_post_texts_and_tokens_appear_only_escaped() -> None:
    page = build_dashboard(full_inputs(), salt=SALT, plotly_js="")
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>token</b>" not in page and "&lt;b&gt;token&lt;/b&gt;" in page
    assert "[image only]" in page  # p4 has no text


def test_page_is_self_contained_with_plotly_inlined_once() -> None:
    page = build_dashboard(full_inputs(), salt=SALT)
    assert "<script src=" not in page and "cdn.plot.ly" not in page.split("</head>")[1]
    assert page.count("<script type=\"text/javascript\">") == 1
    assert len(page) > 1_000_000  # plotly.js itself
    assert page == build_dashboard(full_inputs(), salt=SALT)  # rerunning a day changes nothing


def test_empty_inputs_still_give_a_page_that_says_so() -> None:
    empty = DashboardInputs(RUN_DATE, empty_frame(SEQUENCE_COLUMNS), empty_frame(TRANSITION_COLUMNS), empty_frame(EXAMPLE_COLUMNS))
    page = build_dashboard(empty, salt=SALT, plotly_js="")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "No user sequences for this date" in page
    assert "No transitions flagged for this date" in page
    assert "No ingest manifest for landing day 2026-01-04" in page
    assert "2026-01-04" in page


def test_transitions_but_no_posts_or_sequences_for_a_user() -> None:
    inputs = DashboardInputs(RUN_DATE, sequences_frame(), transitions_frame(), empty_frame(EXAMPLE_COLUMNS), ())
    page = build_dashboard(inputs, salt=SALT, plotly_js="")
    assert "No scored posts on this side of the change" in page
    assert pseudonymize("carol_raw_03", SALT) in page  # in the table and its (empty) timeline


def test_the_transitions_table_lists_the_strongest_and_says_how_many_more() -> None:
    inputs = full_inputs()
    strongest = rank_transitions(inputs.transitions).iloc[0]
    page = build_dashboard(inputs, salt=SALT, plotly_js="", max_table_rows=1)
    assert f"The 1 strongest of {len(inputs.transitions)} transitions" in page
    assert pseudonymize(strongest["user_id"], SALT) in page
    table = transitions_table_figure(rank_transitions(inputs.transitions).head(1), SALT)
    assert len(table.data[0].cells.values[0]) == 1
    assert "strongest of" not in build_dashboard(inputs, salt=SALT, plotly_js="")


def test_heatmap_counts_match_the_transitions_given() -> None:
    figure = transition_matrix_figure(transitions_frame())
    heatmap = figure.data[0]
    z = np.asarray(heatmap.z)
    assert list(heatmap.x) == list(LABELS) and list(heatmap.y) == list(LABELS)
    expected = np.zeros((7, 7), dtype=int)
    expected[LABELS.index("joy"), LABELS.index("sadness")] = 2
    expected[LABELS.index("anger"), LABELS.index("joy")] = 1
    np.testing.assert_array_equal(z, expected)


def test_transitions_rank_by_confidence_times_magnitude() -> None:
    ranked = rank_transitions(transitions_frame())
    assert list(ranked["user_id"]) == ["bob_raw_02", "alice_raw_01", "carol_raw_03"]
    np.testing.assert_allclose(ranked["score"], [0.855, 0.54, 0.15])


def test_cohort_mix_averages_users_per_day() -> None:
    mix = cohort_mix(sequences_frame())
    assert list(mix.columns) == list(LABELS) and len(mix) == 4
    day_three = mix.loc[dt.date(2026, 1, 3)]
    # alice is sad (0.8), bob is angry (0.8): the cohort mean has 0.4 + 0.2/6 / 2 of each
    assert day_three["sadness"] == pytest.approx((0.8 + 0.2 / 6) / 2)
    assert day_three["anger"] == pytest.approx((0.8 + 0.2 / 6) / 2)
    np.testing.assert_allclose(mix.sum(axis=1), 1.0)
    figure = cohort_mix_figure(mix)
    assert [trace.name for trace in figure.data] == list(LABELS)
    assert all(trace.stackgroup == "mix" for trace in figure.data)


def test_the_cohort_summary_read_in_batches_equals_the_one_of_the_whole_frame(tmp_path: Path) -> None:
    sequences = sequences_frame()
    write_partition(tmp_path / "sequences", f"dt={RUN_DATE}", sequences)
    write_partition(tmp_path / "sequences", "dt=2026-01-03", sequences.assign(user_id="dave_raw_04"))  # another snapshot
    whole = summarize_cohort(sequences)
    for batch_rows in (1, 3, 65_536):
        read = read_cohort_summary(tmp_path / "sequences", RUN_DATE.isoformat(), batch_rows=batch_rows)
        assert (read.users, read.user_days, read.posts, read.first_day, read.last_day, read.user_ids) == (
            whole.users, whole.user_days, whole.posts, whole.first_day, whole.last_day, whole.user_ids)
        pd.testing.assert_frame_equal(read.mix, whole.mix, check_names=False, check_index_type=False)
    assert whole.user_days == len(sequences) and whole.users == sequences["user_id"].nunique()
    missing = read_cohort_summary(tmp_path / "sequences", "2026-02-01")
    assert (missing.users, missing.user_days, missing.first_day) == (0, 0, None) and missing.mix.empty


def test_example_posts_split_at_the_change_and_rank_by_label() -> None:
    posts = posts_frame()
    before = example_posts(posts, "alice_raw_01", "2026-01-03", "joy", before=True)
    after = example_posts(posts, "alice_raw_01", "2026-01-03", "sadness", before=False)
    assert list(before["post_id"]) == ["p1", "p2"]
    assert list(after["post_id"]) == ["p3", "p4"]
    assert example_posts(posts, "nobody", "2026-01-03", "joy", before=True).empty
    # bob's only post is angry: it is no example of joy, however few posts there are
    assert example_posts(posts, "bob_raw_02", "2026-01-04", "joy", before=True).empty
    assert list(example_posts(posts, "bob_raw_02", "2026-01-04", "anger", before=True)["post_id"]) == ["p5"]


def test_quarantine_reasons_figure_has_one_stacked_trace_per_reason() -> None:
    figure = quarantine_reasons_figure(manifests())
    by_reason = {trace.name: list(trace.y) for trace in figure.data}
    assert by_reason == {"bad_json": [1, 3], "image_missing": [2, 0], "wrong_type": [0, 1]}
    assert list(figure.data[0].x) == ["2026-01-03", "2026-01-04"]
    assert figure.layout.barmode == "stack"


def write_partition(table: Path, partition: str, frame: pd.DataFrame) -> None:
    folder = table / partition
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "part-00000.parquet")


def test_run_reads_the_lake_and_writes_the_dashboard(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake", landing=tmp_path / "landing", pseudonym_salt=SALT)
    write_partition(settings.table_path("sequences"), f"dt={RUN_DATE}", sequences_frame())
    write_partition(settings.table_path("transitions"), f"dt={RUN_DATE}", transitions_frame())
    # an older as-of date must not leak into this page
    stale = transitions_frame().assign(user_id="dave_raw_04")
    write_partition(settings.table_path("transitions"), "dt=2026-01-03", stale)
    posts = posts_frame()
    for day, group in posts.groupby(posts["created_at"].dt.strftime("%Y-%m-%d")):
        write_partition(settings.table_path("scores"), f"dt={day}/landing_dt={day}",
                        group.drop(columns=["text", "image_path"]))
        write_partition(settings.table_path("posts"), f"dt={day}/landing_dt={day}",
                        group[["post_id", "user_id", "created_at", "text", "image_path"]])
    manifest_folder = settings.table_path("manifests") / "ingest"
    manifest_folder.mkdir(parents=True)
    for manifest in manifests():
        (manifest_folder / f"landing_dt={manifest['landing_dt']}.json").write_text(json.dumps(manifest))

    inputs = load_inputs(settings, RUN_DATE, top_transitions=1)
    top_user = rank_transitions(transitions_frame())["user_id"].iloc[0]
    # full sequences only for the users whose timelines are shown; the cohort as a summary
    assert set(inputs.sequences["user_id"]) == {top_user}
    assert inputs.cohort.users == sequences_frame()["user_id"].nunique() and "dave_raw_04" not in inputs.cohort.user_ids

    path = run(settings, RUN_DATE)
    assert path == settings.lake / "reports" / f"dt={RUN_DATE}" / "dashboard.html"
    page = path.read_text(encoding="utf-8")
    for raw_id in (*RAW_IDS, "dave_raw_04"):
        assert raw_id not in page
    assert pseudonymize("dave_raw_04", SALT) not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and SCRIPT not in page
    assert "<td>wrong_type: 1" not in page and "wrong_type: 1" in page  # quality table
    assert "No ingest manifest" not in page

    assert main(["--date", "2026-01-05", "--lake", str(settings.lake), "--pseudonym-salt", SALT, "--top", "2"]) == 0
    empty_page = (settings.lake / "reports" / "dt=2026-01-05" / "dashboard.html").read_text(encoding="utf-8")
    assert "No transitions flagged for this date" in empty_page and "No user sequences" in empty_page


def test_main_rejects_a_bad_date(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--date", "05/01/2026"])
    assert "YYYY-MM-DD" in capsys.readouterr().err


@pytest.mark.browser
def test_every_figure_renders_offline_in_a_headless_browser(tmp_path: Path) -> None:
    """plotly.js is inlined, so each figure draws with no network at all."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    page = tmp_path / "dashboard.html"
    page.write_text(build_dashboard(full_inputs(), salt=SALT), encoding="utf-8")
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--virtual-time-budget=8000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )
    figure_count = page.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    assert figure_count == 8  # cohort, table, matrix, 3 user timelines, 2 quality
    # plotly draws at least one svg per figure; a missing plotly.js would leave the divs empty
    assert result.stdout.count('class="main-svg"') >= figure_count


def test_the_nightly_page_loads_one_shared_local_plotly_and_stays_small(tmp_path: Path) -> None:
    """The sample-sized cohort's page is far under 1 MB; plotly.js sits once beside the day folders."""
    from jobs.dashboard.synthetic import SMALL, write_synthetic_lake
    from jobs.report import shared_plotly_path

    settings = Settings(lake=tmp_path / "lake", pseudonym_salt=SALT)
    write_synthetic_lake(settings.lake, SMALL)
    first = run(settings, SMALL.end)
    second = run(settings, SMALL.end - dt.timedelta(days=1))
    shared = shared_plotly_path(settings)
    assert shared.parent == first.parent.parent and shared.stat().st_size > 1_000_000
    for page in (first, second):
        text = page.read_text(encoding="utf-8")
        assert f'src="../{shared.name}"' in text and "Plotly.newPlot" in text
        assert page.stat().st_size < 1_000_000
    assert len(list(shared.parent.glob("plotly-*.js"))) == 1


def test_the_cli_report_is_recorded_in_runs_like_every_stage(tmp_path: Path, capsys) -> None:
    from jobs.lake import read_runs

    settings = Settings(lake=tmp_path / "lake", landing=tmp_path / "landing", pseudonym_salt=SALT)
    assert main(["--date", RUN_DATE.isoformat(), "--lake", str(settings.lake)]) == 0
    runs = read_runs(settings)
    assert list(runs["status"]) == ["started", "succeeded"] and set(runs["stage"]) == {"report"}
    assert set(runs["date"]) == {RUN_DATE.isoformat()} and runs["run_id"].nunique() == 1
    counts = json.loads(runs["counts"].iloc[-1])
    assert counts["path"] == str(settings.lake / "reports" / f"dt={RUN_DATE}" / "dashboard.html")
    assert counts["bytes"] == Path(counts["path"]).stat().st_size

    # a report that cannot be written exits 1 with the reason, and its run is recorded as failed
    (settings.lake / "reports").rename(tmp_path / "moved")
    (settings.lake / "reports").write_text("a file where the reports folder belongs")
    assert main(["--date", RUN_DATE.isoformat(), "--lake", str(settings.lake)]) == 1
    assert "emodrift report:" in capsys.readouterr().err
    last = read_runs(settings).iloc[-1]
    assert last["status"] == "failed" and last["error"]
