"""Figure builders: one trace per label (never per user), change points marked, empty inputs explained."""

from __future__ import annotations

import numpy as np
import pandas as pd

from jobs.dashboard import figures
from models.labels import LABELS


def daily_frame(days: int = 3) -> pd.DataFrame:
    frame = pd.DataFrame({"day": [f"2026-01-0{index + 1}" for index in range(days)], "users": [10, 12, 9][:days],
                          "posts": [30, 31, 20][:days]})
    for label in LABELS:
        frame[label] = 1.0 / len(LABELS)
    return frame


def sequence_frame() -> pd.DataFrame:
    probs = [np.eye(len(LABELS))[index % len(LABELS)].tolist() for index in range(4)]
    return pd.DataFrame({"day": ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"], "post_count": [1, 2, 3, 1],
                         "probs": probs, "dominant_label": [LABELS[index] for index in range(4)], "surprise": [None, 0.5, 2.0, 0.1]})


def test_cohort_mix_has_one_trace_per_label_whatever_the_cohort_size():
    figure = figures.cohort_mix_figure(daily_frame())
    assert [trace["name"] for trace in figure["data"]] == list(LABELS)
    assert figure["data"][0]["x"] == ["2026-01-01", "2026-01-02", "2026-01-03"]


def test_transitions_per_day_fills_days_without_changes_with_zero():
    per_day = pd.DataFrame({"day": ["2026-01-02"], "transitions": [4]})
    figure = figures.transitions_per_day_figure(per_day, ["2026-01-01", "2026-01-02", "2026-01-03"])
    assert figure["data"][0]["y"] == [0, 4, 0]


def test_user_timeline_marks_each_change_on_every_panel():
    changes = pd.DataFrame({"changed_at": ["2026-01-03"], "from_label": ["joy"], "to_label": ["sadness"]})
    figure = figures.user_timeline_figure(sequence_frame(), changes, "user-x")
    assert len(figure["data"]) == len(LABELS) + 2  # stacked labels, surprise, post counts (no forecast column)
    assert len(figure["layout"]["shapes"]) == 3 and figure["layout"]["shapes"][0]["x0"] == "2026-01-03"
    assert "joy → sadness" in figure["layout"]["annotations"][0]["text"]
    assert figure["data"][-1]["y"] == [1, 2, 3, 1] and figure["data"][-1]["yaxis"] == "y2"


def test_surprise_skips_the_first_day():
    figure = figures.user_timeline_figure(sequence_frame(), pd.DataFrame(columns=["changed_at"]), "t")
    surprise = next(trace for trace in figure["data"] if trace["name"] == "model surprise")
    assert surprise["y"][0] is None and surprise["y"][2] == 2.0 and surprise["yaxis"] == "y3"


def test_before_after_and_try_a_post_bars():
    before, after = np.eye(len(LABELS))[3], np.eye(len(LABELS))[4]
    figure = figures.before_after_figure(before, after, "t")
    assert [trace["name"] for trace in figure["data"]] == ["before", "after"] and figure["data"][1]["y"][4] == 1.0
    probabilities = figures.probabilities_figure({"text": before.tolist(), "face": None, "fused": before.tolist()}, "t")
    assert [trace["name"] for trace in probabilities["data"]] == ["text", "fused"]


def test_run_health_figures():
    counts = pd.DataFrame({"landing_dt": ["d1", "d1", "d2"], "stage": ["ingest", "score", "ingest"],
                           "count": ["read", "scored", "read"], "value": [5, 4, 6]})
    figure = figures.stage_counts_figure(counts)
    assert sorted(trace["name"] for trace in figure["data"]) == ["ingest: read", "score: scored"]
    reasons = pd.DataFrame({"landing_dt": ["d1", "d2"], "reason": ["bad_json", "bad_json"], "lines": [1, 2]})
    assert figures.quarantine_figure(reasons)["data"][0]["y"] == [1, 2]


def test_empty_inputs_say_why():
    for figure in (figures.cohort_mix_figure(daily_frame(0)), figures.activity_figure(daily_frame(0)),
                   figures.transitions_per_day_figure(pd.DataFrame(columns=["day", "transitions"])),
                   figures.quarantine_figure(pd.DataFrame(columns=["landing_dt", "reason", "lines"]))):
        assert not figure["data"] and figure["layout"]["annotations"][0]["text"]


def test_every_figure_is_valid_plotly():
    """The JSON form must be what plotly itself accepts (validated here, not on every request)."""
    import plotly.graph_objects as go

    changes = pd.DataFrame({"changed_at": ["2026-01-03"], "from_label": ["joy"], "to_label": ["sadness"]})
    for figure in (figures.cohort_mix_figure(daily_frame()), figures.activity_figure(daily_frame()),
                   figures.transitions_per_day_figure(pd.DataFrame({"day": ["d"], "transitions": [1]})),
                   figures.user_timeline_figure(sequence_frame(), changes, "t"),
                   figures.user_timeline_figure(sequence_frame().assign(forecast=[None, *sequence_frame()["probs"][1:]]), changes, "t"),
                   figures.stage_runs_figure(pd.DataFrame({"stage": ["ingest", "score"], "date": ["2026-01-01"] * 2,
                                                           "status": ["succeeded", "failed"], "duration_s": [1.0, 2.0],
                                                           "rows": [3, None], "error": [None, "boom"]})),
                   figures.before_after_figure(np.ones(7) / 7, None, "t"), figures.cohort_mix_figure(daily_frame(0))):
        go.Figure(figure)  # raises on any unknown or invalid property


def test_forecast_is_drawn_over_the_actual_days_with_its_top_label():
    forecast = [None] + [np.eye(len(LABELS))[0].tolist()] * 3  # always expects the first label
    figure = figures.user_timeline_figure(sequence_frame().assign(forecast=forecast), pd.DataFrame(columns=["changed_at"]), "t")
    names = [trace["name"] for trace in figure["data"]]
    assert names[: len(LABELS)] == list(LABELS) and names[len(LABELS): 2 * len(LABELS)] == [f"forecast {label}" for label in LABELS]
    assert names[-3:] == ["forecast: top label", "model surprise", "posts"]
    first_boundary = figure["data"][len(LABELS)]
    assert first_boundary["y"][0] is None and first_boundary["y"][1:] == [1.0, 1.0, 1.0]  # stacked: all mass below
    assert all(trace["yaxis"] == "y" and trace["line"]["dash"] == "dot" for trace in figure["data"][len(LABELS): 2 * len(LABELS)])
    top = figure["data"][-3]
    assert top["x"] == ["2026-01-02", "2026-01-03", "2026-01-04"] and top["text"] == [LABELS[0]] * 3
    assert "<sup>" not in figure["layout"]["title"]["text"]


def test_without_a_forecast_the_timeline_says_why():
    changes = pd.DataFrame(columns=["changed_at"])
    older = figures.user_timeline_figure(sequence_frame(), changes, "t")  # no forecast column: an older lake
    assert not any(trace["name"].startswith("forecast") for trace in older["data"])
    assert "not in this lake" in older["layout"]["title"]["text"]
    unfitted = figures.user_timeline_figure(sequence_frame().assign(forecast=None), changes, "t")
    assert "no temporal model" in unfitted["layout"]["title"]["text"]
    no_surprise = figures.user_timeline_figure(sequence_frame().assign(surprise=None), changes, "t")
    assert any("temporal model did not run" in note["text"] for note in no_surprise["layout"]["annotations"])


def test_stage_runs_figure_marks_failed_and_unfinished_runs():
    runs = pd.DataFrame({"stage": ["ingest", "ingest", "score", "drift"], "date": ["d1", "d2", "d1", "d2"],
                         "status": ["succeeded", "succeeded", "failed", "unfinished"], "duration_s": [10.0, 12.0, 3.0, None],
                         "rows": [5, 6, None, None], "error": [None, None, "boom", None]})
    figure = figures.stage_runs_figure(runs)
    by_name = {trace["name"]: trace for trace in figure["data"]}
    assert by_name["ingest"]["y"] == [10.0, 12.0] and by_name["failed"]["text"] == ["score: boom"]
    assert by_name["unfinished"]["x"] == ["d2"] and by_name["unfinished"]["y"] == [0.0]  # no duration, no median for drift
    assert not figures.stage_runs_figure(runs.iloc[0:0])["data"]
