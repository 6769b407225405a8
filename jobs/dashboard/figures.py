"""Figure builders: a DataFrame from :mod:`jobs.dashboard.queries` in, a plotly figure out.

Pure functions (no lake, no server), so each is tested on a three-row frame. Traces are per
label or per count, never per user: a figure's size does not grow with the cohort.

Figures are plotly's JSON form (``{"data": [...], "layout": {...}}``), which ``dcc.Graph``
draws as is (wrap one in ``plotly.graph_objects.Figure`` to show it in a notebook): building
``go.Figure`` objects validated every property and took most of a drill-down's server time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jobs.report import LABEL_COLOURS
from models.labels import LABELS

Figure = dict[str, Any]
HEIGHT = 340
MARGIN = {"t": 50, "b": 40, "l": 60, "r": 30}


def _figure(data: list[dict[str, Any]], title: str, **layout: Any) -> Figure:
    return {"data": data, "layout": {"title": {"text": title}, "height": HEIGHT, "margin": MARGIN, **layout}}


def _empty(title: str, message: str) -> Figure:
    return _figure([], title, xaxis={"visible": False}, yaxis={"visible": False},
                   annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])


def _values(series: pd.Series, decimals: int = 4) -> list:
    return [None if pd.isna(value) else round(float(value), decimals) for value in series]


def _change_lines(transitions: pd.DataFrame, axes: Sequence[tuple[str, str]] = (("x", "paper"),), width: float = 1.5) -> list[dict]:
    """Dashed vertical lines at each change day, on every (x axis, y reference) given."""
    return [
        {"type": "line", "x0": str(day)[:10], "x1": str(day)[:10], "y0": 0, "y1": 1, "xref": x, "yref": y,
         "line": {"dash": "dash", "color": "black", "width": width}}
        for day in transitions.get("changed_at", pd.Series(dtype=object)) for x, y in axes
    ]


def cohort_mix_figure(daily: pd.DataFrame) -> Figure:
    """Stacked area of the cohort's mean emotion distribution per day (:func:`queries.cohort_daily`)."""
    title = "Cohort emotion mix (mean per user and day)"
    if daily.empty:
        return _empty(title, "no user sequences in this range")
    days = list(daily["day"])
    data = [{"type": "scatter", "x": days, "y": _values(daily[label]), "name": label, "mode": "lines", "stackgroup": "mix",
             "line": {"width": 0.5, "color": LABEL_COLOURS[label]}} for label in LABELS]
    return _figure(data, title, yaxis={"title": {"text": "share"}, "range": [0, 1]})


def activity_figure(daily: pd.DataFrame) -> Figure:
    """Posts (bars) and active users (line, right axis) per day."""
    title = "Posts and active users per day"
    if daily.empty:
        return _empty(title, "no user sequences in this range")
    days = list(daily["day"])
    data = [
        {"type": "bar", "x": days, "y": [int(value) for value in daily["posts"]], "name": "posts", "marker": {"color": "#9db4d0"}},
        {"type": "scatter", "x": days, "y": [int(value) for value in daily["users"]], "name": "users", "mode": "lines+markers",
         "line": {"color": "#2c3e50"}, "yaxis": "y2"},
    ]
    return _figure(data, title, yaxis={"title": {"text": "posts"}, "rangemode": "tozero"},
                   yaxis2={"title": {"text": "users"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
                   legend={"x": 1.06})


def transitions_per_day_figure(per_day: pd.DataFrame, days: Sequence[str] = ()) -> Figure:
    """Transitions by change day (:func:`queries.transitions_per_day`), zero-filled over ``days``."""
    title = "Transitions per day"
    counts = dict(zip(per_day["day"], per_day["transitions"].astype(int)))
    x = list(days) if len(days) else sorted(counts)
    if not x:
        return _empty(title, "no transitions in this range")
    data = [{"type": "bar", "x": x, "y": [int(counts.get(day, 0)) for day in x], "name": "transitions",
             "marker": {"color": "#c0392b"}}]
    return _figure(data, title, yaxis={"title": {"text": "transitions"}, "rangemode": "tozero"})


def before_after_figure(before: np.ndarray | None, after: np.ndarray | None, title: str) -> Figure:
    """Grouped bars: the mean distribution before and after one change."""
    if before is None and after is None:
        return _empty(title, "no days on either side")
    data = [{"type": "bar", "x": list(LABELS), "y": np.round(values, 4).tolist(), "name": name, "marker": {"color": colour}}
            for name, values, colour in (("before", before, "#95a5a6"), ("after", after, "#2c3e50")) if values is not None]
    return _figure(data, title, barmode="group", yaxis={"title": {"text": "probability"}, "range": [0, 1]})


FORECAST_ABSENT = "forecast not in this lake (its sequences predate the drift stage's forecast column)"
FORECAST_EMPTY = "no forecast for these days (no temporal model was fitted)"
SURPRISE_TRACE = "model surprise"  # not "surprise": that is also a label's name


def _forecast_matrix(sequence: pd.DataFrame) -> np.ndarray | None:
    """(days, labels) forecasts with NaN rows where none was made; None when there is none at all."""
    if "forecast" not in sequence:
        return None
    rows = [np.asarray(value, dtype=float) if value is not None and np.size(value) == len(LABELS) else np.full(len(LABELS), np.nan)
            for value in sequence["forecast"]]
    matrix = np.vstack(rows) if rows else np.empty((0, len(LABELS)))
    return None if np.isnan(matrix).all() else matrix


def _note(text: str, y: float) -> dict[str, Any]:
    return {"text": text, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": y,
            "font": {"size": 11, "color": "#7f8c8d"}}


def user_timeline_figure(sequence: pd.DataFrame, transitions: pd.DataFrame, title: str) -> Figure:
    """One user's days, change points dashed on every panel.

    Top: the day's actual distribution, stacked and filled; over it, when the sequences carry
    the temporal model's ``forecast``, the forecast stacked the same way as dotted lines of the
    same colours (where a dotted line leaves its band's edge, the day differed from what the
    model expected) and the forecast's top label marked above each day. Middle: the model's
    surprise, KL(actual || forecast) in nats. Bottom: posts per day. Without a ``forecast``
    column (a lake written before the drift stage stored it) or without any forecast value,
    the figure says so and still draws the surprise.
    """
    if sequence.empty:
        return _empty(title, "no daily rows for this user")
    days = list(sequence["day"].astype(str).str[:10])
    actual = np.vstack([np.asarray(value, dtype=float) for value in sequence["probs"]]).round(4)
    data: list[dict[str, Any]] = [
        {"type": "scatter", "x": days, "y": actual[:, index].tolist(), "name": label, "mode": "lines", "stackgroup": "probs",
         "legendgroup": label, "line": {"width": 0.5, "color": LABEL_COLOURS[label]}, "xaxis": "x", "yaxis": "y"}
        for index, label in enumerate(LABELS)]
    notes = []
    forecast = _forecast_matrix(sequence)
    if forecast is None:  # said under the title, where no change label can cover it
        title = f"{title}<br><sup>{FORECAST_ABSENT if 'forecast' not in sequence else FORECAST_EMPTY}</sup>"
    else:
        forecast = forecast.round(4)
        boundaries = np.cumsum(forecast, axis=1)
        for index, label in enumerate(LABELS):
            data.append({"type": "scatter", "x": days, "y": _values(pd.Series(boundaries[:, index])),
                         "customdata": _values(pd.Series(forecast[:, index])), "name": f"forecast {label}", "mode": "lines",
                         "legendgroup": label, "showlegend": False,
                         "hovertemplate": f"forecast {label}: %{{customdata:.2f}}<extra></extra>",
                         "line": {"dash": "dot", "width": 2, "color": LABEL_COLOURS[label]}, "xaxis": "x", "yaxis": "y"})
        made = ~np.isnan(forecast).all(axis=1)
        top = [LABELS[int(np.nanargmax(row))] for row, ok in zip(forecast, made) if ok]
        data.append({"type": "scatter", "x": [day for day, ok in zip(days, made) if ok], "y": [1.04] * len(top),
                     "mode": "markers", "name": "forecast: top label", "text": top,
                     "hovertemplate": "forecast top label: %{text}<extra></extra>",
                     "marker": {"symbol": "triangle-down", "size": 9, "color": [LABEL_COLOURS[label] for label in top],
                                "line": {"width": 1, "color": "#2c3e50"}}, "xaxis": "x", "yaxis": "y"})
    surprise = pd.to_numeric(sequence.get("surprise", pd.Series(dtype=float)), errors="coerce")
    if surprise.isna().all():
        notes.append(_note("no surprise values (the temporal model did not run for this window)", 0.29))
    data.append({"type": "scatter", "x": days, "y": _values(surprise), "mode": "lines+markers", "name": SURPRISE_TRACE,
                 "line": {"color": "#8e44ad"}, "xaxis": "x3", "yaxis": "y3"})
    data.append({"type": "bar", "x": days, "y": [int(value) for value in sequence["post_count"]], "name": "posts",
                 "marker": {"color": "#7f8c8d"}, "showlegend": False, "xaxis": "x2", "yaxis": "y2"})
    annotations = [{"x": str(change.changed_at)[:10], "y": 1.0, "xref": "x", "yref": "paper", "showarrow": False,
                    "yanchor": "bottom", "text": f"{change.from_label} → {change.to_label}"} for change in transitions.itertuples()]
    return _figure(
        data, title, height=600, margin={**MARGIN, "t": 90},
        xaxis={"anchor": "y", "matches": "x2", "showticklabels": False},
        xaxis3={"anchor": "y3", "matches": "x2", "showticklabels": False},
        xaxis2={"anchor": "y2"},
        yaxis={"anchor": "x", "domain": [0.44, 1.0], "range": [0, 1.08],
               "title": {"text": "probability" if forecast is None else "actual (filled)<br>forecast (dotted)"}},
        yaxis3={"anchor": "x3", "domain": [0.2, 0.38], "title": {"text": "surprise (nats)"}, "rangemode": "tozero"},
        yaxis2={"anchor": "x2", "domain": [0.0, 0.14], "title": {"text": "posts"}, "rangemode": "tozero"},
        shapes=_change_lines(transitions, (("x", "y domain"), ("x3", "y3 domain"), ("x2", "y2 domain"))),
        annotations=annotations + notes,
    )


def probabilities_figure(rows: dict[str, Sequence[float] | None], title: str) -> Figure:
    """Grouped bars of named distributions (``{"text": [...], "face": [...], "fused": [...]}``)."""
    present = {name: values for name, values in rows.items() if values is not None}
    if not present:
        return _empty(title, "nothing to score: no text and no face found")
    data = [{"type": "bar", "x": list(LABELS), "y": np.round(np.asarray(values, dtype=float), 4).tolist(), "name": name}
            for name, values in present.items()]
    return _figure(data, title, barmode="group", yaxis={"title": {"text": "probability"}, "range": [0, 1]})


def stage_counts_figure(counts: pd.DataFrame, names: Sequence[str] = ("read", "accepted", "quarantined", "duplicates", "scored")) -> Figure:
    """Per landing day, the manifests' main counts (one line per stage and count)."""
    title = "Counts per stage per day (manifests)"
    shown = counts[counts["count"].isin(names)] if not counts.empty else counts
    if shown.empty:
        return _empty(title, "no manifests in this range")
    data = [{"type": "scatter", "x": list(group["landing_dt"]), "y": group["value"].tolist(), "name": f"{stage}: {name}",
             "mode": "lines+markers"} for (stage, name), group in shown.groupby(["stage", "count"], sort=True)]
    return _figure(data, title, yaxis={"title": {"text": "lines / posts"}, "rangemode": "tozero"})


def quarantine_figure(reasons: pd.DataFrame) -> Figure:
    """Quarantined lines per landing day by reason code (stacked bars)."""
    title = "Quarantined lines by reason"
    if reasons.empty:
        return _empty(title, "nothing quarantined in this range")
    data = [{"type": "bar", "x": list(group["landing_dt"]), "y": [int(value) for value in group["lines"]], "name": str(reason)}
            for reason, group in reasons.groupby("reason", sort=True)]
    return _figure(data, title, barmode="stack", xaxis={"type": "category"}, yaxis={"title": {"text": "lines"}})


RUN_STATUS_MARKERS = {"failed": ("x", "#c0392b"), "unfinished": ("diamond-open", "#e67e22")}


def stage_runs_figure(runs: pd.DataFrame) -> Figure:
    """Run time per stage per day (:func:`queries.stage_runs`): a line per stage through its
    runs, failed and unfinished runs marked on top (an unfinished one at its stage's median)."""
    title = "Stage runs per day: duration (runs table)"
    if runs.empty:
        return _empty(title, "no runs recorded in this range")
    data = []
    for stage, group in runs.sort_values("date").groupby("stage", sort=True):
        finished = group[group["status"] == "succeeded"]
        data.append({"type": "scatter", "x": list(finished["date"]), "y": _values(finished["duration_s"], 1),
                     "name": str(stage), "mode": "lines+markers", "text": _values(finished["rows"], 0),
                     "hovertemplate": f"{stage} %{{x}}: %{{y}} s, rows %{{text}}<extra></extra>"})
    for status, (symbol, colour) in RUN_STATUS_MARKERS.items():
        marked = runs[runs["status"] == status]
        if marked.empty:
            continue
        median = runs.groupby("stage")["duration_s"].median()
        durations = marked["duration_s"].fillna(marked["stage"].map(median)).fillna(0.0)
        errors = [f"{stage}: {error}" if isinstance(error, str) and error else str(stage)
                  for stage, error in zip(marked["stage"], marked["error"])]
        data.append({"type": "scatter", "x": list(marked["date"]), "y": _values(durations, 1), "name": status,
                     "mode": "markers", "text": errors, "hovertemplate": f"{status} %{{x}}: %{{text}}<extra></extra>",
                     "marker": {"symbol": symbol, "size": 12, "color": colour, "line": {"width": 2, "color": colour}}})
    return _figure(data, title, yaxis={"title": {"text": "seconds"}, "rangemode": "tozero"})
