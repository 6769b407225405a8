"""Figure builders: a DataFrame from :mod:`jobs.dashboard.queries` in, a plotly figure out.

Pure functions (no lake, no server), so each is tested on a three-row frame. Traces are per
label or per count, never per user: a figure's size does not grow with the cohort.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from jobs.report import LABEL_COLOURS
from models.labels import LABELS

HEIGHT = 340


def _empty(title: str, message: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, height=HEIGHT, xaxis={"visible": False}, yaxis={"visible": False},
                         annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}])
    return figure


def cohort_mix_figure(daily: pd.DataFrame) -> go.Figure:
    """Stacked area of the cohort's mean emotion distribution per day (:func:`queries.cohort_daily`)."""
    title = "Cohort emotion mix (mean per user and day)"
    if daily.empty:
        return _empty(title, "no user sequences in this range")
    figure = go.Figure()
    for label in LABELS:
        figure.add_trace(go.Scatter(x=list(daily["day"]), y=daily[label].astype(float).round(4).tolist(), name=label,
                                    mode="lines", stackgroup="mix", line={"width": 0.5, "color": LABEL_COLOURS[label]}))
    figure.update_layout(title=title, yaxis={"title": "share", "range": [0, 1]}, height=HEIGHT, margin={"t": 50, "b": 40})
    return figure


def activity_figure(daily: pd.DataFrame) -> go.Figure:
    """Posts (bars) and active users (line) per day."""
    title = "Posts and active users per day"
    if daily.empty:
        return _empty(title, "no user sequences in this range")
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(go.Bar(x=list(daily["day"]), y=daily["posts"].astype(int).tolist(), name="posts", marker_color="#9db4d0"))
    figure.add_trace(go.Scatter(x=list(daily["day"]), y=daily["users"].astype(int).tolist(), name="users", mode="lines+markers",
                                line={"color": "#2c3e50"}), secondary_y=True)
    figure.update_layout(title=title, height=HEIGHT, margin={"t": 50, "b": 40})
    figure.update_yaxes(title_text="posts", secondary_y=False)
    figure.update_yaxes(title_text="users", secondary_y=True, rangemode="tozero")
    return figure


def transitions_per_day_figure(per_day: pd.DataFrame, days: Sequence[str] = ()) -> go.Figure:
    """Transitions by change day (:func:`queries.transitions_per_day`), zero-filled over ``days``."""
    title = "Transitions per day"
    counts = dict(zip(per_day["day"], per_day["transitions"].astype(int)))
    x = list(days) if len(days) else sorted(counts)
    if not x:
        return _empty(title, "no transitions in this range")
    figure = go.Figure(go.Bar(x=x, y=[int(counts.get(day, 0)) for day in x], name="transitions", marker_color="#c0392b"))
    figure.update_layout(title=title, height=HEIGHT, margin={"t": 50, "b": 40}, yaxis={"title": "transitions"})
    return figure


def user_timeline_figure(sequence: pd.DataFrame, transitions: pd.DataFrame, title: str) -> go.Figure:
    """One user's stacked daily probabilities (top) and post counts (bottom), change points dashed."""
    if sequence.empty:
        return _empty(title, "no daily rows for this user")
    days = list(sequence["day"].astype(str).str[:10])
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in sequence["probs"]])
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.04)
    for index, label in enumerate(LABELS):
        figure.add_trace(go.Scatter(x=days, y=probabilities[:, index].round(4).tolist(), name=label, mode="lines",
                                    stackgroup="probs", line={"width": 0.5, "color": LABEL_COLOURS[label]}), row=1, col=1)
    figure.add_trace(go.Bar(x=days, y=sequence["post_count"].astype(int).tolist(), name="posts", marker_color="#7f8c8d",
                            showlegend=False), row=2, col=1)
    for change in transitions.itertuples():
        changed_at = str(change.changed_at)[:10]
        # shapes, not add_vline: its annotation arithmetic fails on date strings
        for axis in ("y", "y2"):
            figure.add_shape(type="line", x0=changed_at, x1=changed_at, y0=0, y1=1, xref="x", yref=f"{axis} domain",
                             line={"dash": "dash", "color": "black", "width": 1.5})
        figure.add_annotation(x=changed_at, y=1.06, xref="x", yref="paper", showarrow=False,
                              text=f"{change.from_label} → {change.to_label}")
    figure.update_layout(title=title, height=440, margin={"t": 70, "b": 40})
    figure.update_yaxes(title_text="probability", range=[0, 1], row=1, col=1)
    figure.update_yaxes(title_text="posts", row=2, col=1)
    return figure


def before_after_figure(before: np.ndarray | None, after: np.ndarray | None, title: str) -> go.Figure:
    """Grouped bars: the mean distribution before and after one change."""
    if before is None and after is None:
        return _empty(title, "no days on either side")
    figure = go.Figure()
    for name, values, colour in (("before", before, "#95a5a6"), ("after", after, "#2c3e50")):
        if values is not None:
            figure.add_trace(go.Bar(x=list(LABELS), y=np.round(values, 4).tolist(), name=name, marker_color=colour))
    figure.update_layout(title=title, barmode="group", height=HEIGHT, yaxis={"title": "probability", "range": [0, 1]},
                         margin={"t": 50, "b": 40})
    return figure


def surprise_figure(sequence: pd.DataFrame, transitions: pd.DataFrame, title: str = "Temporal model: surprise per day") -> go.Figure:
    """The temporal model's surprise per day (how unexpected the day was given the past).

    A ``forecast`` column (the model's predicted distribution), when the sequences carry one,
    is drawn as the predicted probability of the day's dominant label.
    """
    surprise = pd.to_numeric(sequence.get("surprise", pd.Series(dtype=float)), errors="coerce")
    if sequence.empty or surprise.isna().all():
        return _empty(title, "no surprise values (the temporal model did not run for this window)")
    days = list(sequence["day"].astype(str).str[:10])
    figure = go.Figure(go.Scatter(x=days, y=surprise.round(4).tolist(), mode="lines+markers", name="surprise",
                                  line={"color": "#8e44ad"}))
    if "forecast" in sequence:
        predicted = [float(np.asarray(forecast)[int(np.argmax(probs))]) if forecast is not None else None
                     for forecast, probs in zip(sequence["forecast"], sequence["probs"])]
        figure.add_trace(go.Scatter(x=days, y=predicted, name="forecast p(dominant)", yaxis="y2", mode="lines",
                                    line={"dash": "dot", "color": "#16a085"}))
        figure.update_layout(yaxis2={"title": "forecast", "overlaying": "y", "side": "right", "range": [0, 1]})
    for change in transitions.itertuples():
        changed_at = str(change.changed_at)[:10]
        figure.add_shape(type="line", x0=changed_at, x1=changed_at, y0=0, y1=1, yref="paper",
                         line={"dash": "dash", "color": "black", "width": 1})
    figure.update_layout(title=title, height=HEIGHT, yaxis={"title": "surprise (nats)"}, margin={"t": 50, "b": 40})
    return figure


def probabilities_figure(rows: dict[str, Sequence[float] | None], title: str) -> go.Figure:
    """Grouped bars of named distributions (``{"text": [...], "face": [...], "fused": [...]}``)."""
    present = {name: values for name, values in rows.items() if values is not None}
    if not present:
        return _empty(title, "nothing to score: no text and no face found")
    figure = go.Figure()
    for name, values in present.items():
        figure.add_trace(go.Bar(x=list(LABELS), y=np.round(np.asarray(values, dtype=float), 4).tolist(), name=name))
    figure.update_layout(title=title, barmode="group", height=HEIGHT, yaxis={"title": "probability", "range": [0, 1]},
                         margin={"t": 50, "b": 40})
    return figure


def stage_counts_figure(counts: pd.DataFrame, names: Sequence[str] = ("read", "accepted", "quarantined", "duplicates", "scored")) -> go.Figure:
    """Per landing day, the manifests' main counts (one line per stage and count)."""
    title = "Counts per stage per day (manifests)"
    shown = counts[counts["count"].isin(names)] if not counts.empty else counts
    if shown.empty:
        return _empty(title, "no manifests in this range")
    figure = go.Figure()
    for (stage, name), group in shown.groupby(["stage", "count"], sort=True):
        figure.add_trace(go.Scatter(x=list(group["landing_dt"]), y=group["value"].tolist(), name=f"{stage}: {name}",
                                    mode="lines+markers"))
    figure.update_layout(title=title, height=HEIGHT, margin={"t": 50, "b": 40}, yaxis={"title": "lines / posts"})
    return figure


def quarantine_figure(reasons: pd.DataFrame) -> go.Figure:
    """Quarantined lines per landing day by reason code (stacked bars)."""
    title = "Quarantined lines by reason"
    if reasons.empty:
        return _empty(title, "nothing quarantined in this range")
    figure = go.Figure()
    for reason, group in reasons.groupby("reason", sort=True):
        figure.add_trace(go.Bar(x=list(group["landing_dt"]), y=group["lines"].astype(int).tolist(), name=str(reason)))
    figure.update_layout(title=title, barmode="stack", height=HEIGHT, margin={"t": 50, "b": 40},
                         xaxis={"type": "category"}, yaxis={"title": "lines"})
    return figure
