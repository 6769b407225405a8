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


def user_timeline_figure(sequence: pd.DataFrame, transitions: pd.DataFrame, title: str) -> Figure:
    """One user's stacked daily probabilities (top) and post counts (bottom), change points dashed."""
    if sequence.empty:
        return _empty(title, "no daily rows for this user")
    days = list(sequence["day"].astype(str).str[:10])
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in sequence["probs"]]).round(4)
    data = [{"type": "scatter", "x": days, "y": probabilities[:, index].tolist(), "name": label, "mode": "lines",
             "stackgroup": "probs", "line": {"width": 0.5, "color": LABEL_COLOURS[label]}, "xaxis": "x", "yaxis": "y"}
            for index, label in enumerate(LABELS)]
    data.append({"type": "bar", "x": days, "y": [int(value) for value in sequence["post_count"]], "name": "posts",
                 "marker": {"color": "#7f8c8d"}, "showlegend": False, "xaxis": "x2", "yaxis": "y2"})
    annotations = [{"x": str(change.changed_at)[:10], "y": 1.06, "xref": "x", "yref": "paper", "showarrow": False,
                    "text": f"{change.from_label} → {change.to_label}"} for change in transitions.itertuples()]
    figure = _figure(
        data, title, height=440, margin={**MARGIN, "t": 70},
        xaxis={"anchor": "y", "matches": "x2", "showticklabels": False},
        xaxis2={"anchor": "y2"},
        yaxis={"anchor": "x", "domain": [0.3, 1.0], "range": [0, 1], "title": {"text": "probability"}},
        yaxis2={"anchor": "x2", "domain": [0.0, 0.26], "title": {"text": "posts"}, "rangemode": "tozero"},
        shapes=_change_lines(transitions, (("x", "y domain"), ("x2", "y2 domain"))), annotations=annotations,
    )
    return figure


def before_after_figure(before: np.ndarray | None, after: np.ndarray | None, title: str) -> Figure:
    """Grouped bars: the mean distribution before and after one change."""
    if before is None and after is None:
        return _empty(title, "no days on either side")
    data = [{"type": "bar", "x": list(LABELS), "y": np.round(values, 4).tolist(), "name": name, "marker": {"color": colour}}
            for name, values, colour in (("before", before, "#95a5a6"), ("after", after, "#2c3e50")) if values is not None]
    return _figure(data, title, barmode="group", yaxis={"title": {"text": "probability"}, "range": [0, 1]})


def surprise_figure(sequence: pd.DataFrame, transitions: pd.DataFrame, title: str = "Temporal model: surprise per day") -> Figure:
    """The temporal model's surprise per day (how unexpected the day was given the past).

    A ``forecast`` column (the model's predicted distribution), when the sequences carry one,
    is drawn as the predicted probability of the day's dominant label.
    """
    surprise = pd.to_numeric(sequence.get("surprise", pd.Series(dtype=float)), errors="coerce")
    if sequence.empty or surprise.isna().all():
        return _empty(title, "no surprise values (the temporal model did not run for this window)")
    days = list(sequence["day"].astype(str).str[:10])
    data = [{"type": "scatter", "x": days, "y": _values(surprise), "mode": "lines+markers", "name": "surprise",
             "line": {"color": "#8e44ad"}}]
    layout: dict[str, Any] = {"yaxis": {"title": {"text": "surprise (nats)"}, "rangemode": "tozero"}}
    if "forecast" in sequence:
        predicted = [float(np.asarray(forecast)[int(np.argmax(probs))]) if forecast is not None else None
                     for forecast, probs in zip(sequence["forecast"], sequence["probs"])]
        data.append({"type": "scatter", "x": days, "y": predicted, "name": "forecast p(dominant)", "yaxis": "y2",
                     "mode": "lines", "line": {"dash": "dot", "color": "#16a085"}})
        layout["yaxis2"] = {"title": {"text": "forecast"}, "overlaying": "y", "side": "right", "range": [0, 1]}
    return _figure(data, title, shapes=_change_lines(transitions, width=1), **layout)


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
