"""The nightly static dashboard: one HTML page per as-of date, small and offline.

``emodrift report --date 2026-01-15`` reads ``sequences``, ``transitions``, ``scores``,
``posts`` and the ingest manifests with pyarrow (no Spark: it runs inside an Airflow task) and
writes ``lake/reports/dt=2026-01-15/dashboard.html``, which opens offline: it loads plotly.js from
one shared local copy, ``lake/reports/plotly-<version>.min.js``, so each day's page stays small.
The served, interactive dashboard is :mod:`jobs.dashboard` (``emodrift dashboard``).

The page is built by pure functions (pandas in, plotly figure or HTML string out) so each
panel can be tested on a three-row frame; :func:`load_inputs` is the only reader and
:func:`run` the only writer.

Privacy: user ids never reach the page. Every id is replaced by :func:`pseudonymize` (a keyed
hash, so ids cannot be recovered by hashing a list of guesses without the salt), including
ids mentioned inside post texts, and every text is HTML-escaped before it is placed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import hmac
import html
import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jobs.lake import parse_date
from jobs.settings import Settings
from models.labels import LABEL_INDEX, LABELS

# stable label colours across every panel, so "sadness" is the same blue everywhere
LABEL_COLOURS: dict[str, str] = {
    "anger": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "joy": "#f2b701",
    "sadness": "#1f77b4", "surprise": "#17becf", "neutral": "#7f7f7f",
}
SEQUENCE_COLUMNS = ("user_id", "day", "post_count", "probs", "dominant_label", "surprise")
TRANSITION_COLUMNS = (
    "user_id", "changed_at", "from_label", "to_label", "magnitude", "confidence",
    "posts_before", "posts_after", "detector", "model_version",
)
EXAMPLE_COLUMNS = ("post_id", "user_id", "created_at", "text", "image_path", "fused_probs", "fused_label", "text_top_tokens")
MAX_EXAMPLE_CHARS = 280
MAX_TABLE_ROWS = 1000  # transitions listed on the static page; the served dashboard has them all


def pseudonymize(user_id: str, salt: str) -> str:
    """``"user-"`` + the first 10 hex digits of HMAC-SHA256(salt, user_id)."""
    digest = hmac.new(salt.encode("utf-8"), str(user_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"user-{digest[:10]}"


@dataclasses.dataclass(frozen=True)
class DashboardInputs:
    """Everything one dashboard shows, already read from the lake.

    Attributes:
        run_date: the as-of date.
        sequences: one row per user and day (``SEQUENCE_COLUMNS``; ``probs`` in LABELS order).
        transitions: one row per flagged change (``TRANSITION_COLUMNS``).
        posts: scored posts of the users worth showing, with their text
            (``EXAMPLE_COLUMNS``; see :func:`join_scores_posts`).
        manifests: ingest manifests of the landing days in the window, oldest first.
    """

    run_date: dt.date
    sequences: pd.DataFrame
    transitions: pd.DataFrame
    posts: pd.DataFrame
    manifests: tuple[dict[str, Any], ...] = ()
    cohort: CohortSummary | None = None  # None: summarised from ``sequences``


@dataclasses.dataclass(frozen=True)
class CohortSummary:
    """What the page shows of the whole cohort, whatever its size: counts, the window, the mean
    emotion mix per day (:func:`cohort_mix`) and the user ids (to scrub from post texts).

    :func:`load_inputs` builds it a batch of rows at a time and keeps only the top users' full
    sequences: a million-post night has ~1.5 million user-days, which as a pandas frame of
    per-row arrays cost the report ~1 GiB of memory for one stacked area chart.
    """

    users: int
    user_days: int
    posts: int
    first_day: str | None
    last_day: str | None
    mix: pd.DataFrame
    user_ids: frozenset[str]


def summarize_cohort(sequences: pd.DataFrame) -> CohortSummary:
    """:class:`CohortSummary` of a frame of ``sequences`` rows (``SEQUENCE_COLUMNS``)."""
    days = sorted({pd.Timestamp(day).date().isoformat() for day in sequences["day"].unique()}) if len(sequences) else []
    return CohortSummary(
        users=int(sequences["user_id"].nunique()),
        user_days=len(sequences),
        posts=int(pd.to_numeric(sequences["post_count"], errors="coerce").fillna(0).sum()) if len(sequences) else 0,
        first_day=days[0] if days else None,
        last_day=days[-1] if days else None,
        mix=cohort_mix(sequences),
        user_ids=frozenset(sequences["user_id"].astype(str)),
    )


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty frame with the given columns (what a missing table reads as)."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


# ---------------------------------------------------------------------------------------------
# pure transforms


def rank_transitions(transitions: pd.DataFrame) -> pd.DataFrame:
    """Transitions with a ``score`` = confidence x magnitude column, best first (ties by date, user)."""
    ranked = transitions.copy()
    ranked["score"] = ranked["confidence"].astype(float) * ranked["magnitude"].astype(float)
    ranked["changed_at"] = ranked["changed_at"].astype(str).str[:10]
    return ranked.sort_values(["score", "changed_at", "user_id"], ascending=[False, True, True], kind="stable").reset_index(drop=True)


def transition_matrix(transitions: pd.DataFrame) -> pd.DataFrame:
    """Counts of transitions per (from_label, to_label), LABELS x LABELS, rows = from."""
    counts = pd.DataFrame(0, index=list(LABELS), columns=list(LABELS), dtype=int)
    for (source, target), count in transitions.groupby(["from_label", "to_label"]).size().items():
        if source in LABEL_INDEX and target in LABEL_INDEX:
            counts.loc[source, target] = int(count)
    return counts


def cohort_mix(sequences: pd.DataFrame) -> pd.DataFrame:
    """Mean emotion distribution over users per day: index = day, columns = LABELS.

    Each user counts once per day whatever their post count, so one prolific account cannot
    paint the whole cohort's mood.
    """
    if sequences.empty:
        return pd.DataFrame(columns=list(LABELS), dtype=float)
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in sequences["probs"]])
    frame = pd.DataFrame(probabilities, columns=list(LABELS))
    frame["day"] = pd.to_datetime(sequences["day"].to_numpy()).date
    return frame.groupby("day")[list(LABELS)].mean().sort_index()


def join_scores_posts(scores: pd.DataFrame, posts: pd.DataFrame) -> pd.DataFrame:
    """Scores with their post's text and image path (``EXAMPLE_COLUMNS``), one row per post."""
    if scores.empty:
        return empty_frame(EXAMPLE_COLUMNS)
    texts = posts[["post_id", "text", "image_path"]].drop_duplicates("post_id") if not posts.empty else empty_frame(("post_id", "text", "image_path"))
    joined = scores.drop(columns=[column for column in ("text", "image_path") if column in scores]).merge(texts, on="post_id", how="left")
    for column in EXAMPLE_COLUMNS:
        if column not in joined:
            joined[column] = None
    return joined[list(EXAMPLE_COLUMNS)].drop_duplicates("post_id").reset_index(drop=True)


def example_posts(
    posts: pd.DataFrame, user_id: str, changed_at: str, label: str, *, before: bool, limit: int = 3,
    min_probability: float = 1.0 / len(LABELS),
) -> pd.DataFrame:
    """The user's posts on one side of a change that score highest for ``label``.

    Args:
        posts: frame from :func:`join_scores_posts`.
        user_id: raw user id.
        changed_at: ``YYYY-MM-DD``; posts created (UTC) before it are "before".
        label: the label to rank by (from_label before, to_label after).
        before: which side of the change.
        limit: how many to return.
        min_probability: posts giving ``label`` less are left out; the default (a uniform
            share) keeps a side with few posts from showing, as "most joyful", a post the
            model read as something else entirely.

    Returns:
        Up to ``limit`` rows of ``posts`` plus ``label_probability``, best first.
    """
    mine = posts[posts["user_id"] == user_id]
    if mine.empty:
        return mine.assign(label_probability=pd.Series(dtype=float))
    days = pd.to_datetime(mine["created_at"], utc=True).dt.strftime("%Y-%m-%d")
    side = mine[(days < changed_at) if before else (days >= changed_at)]
    index = LABEL_INDEX[label]
    probability = side["fused_probs"].map(
        # a null list reads as None from pyarrow and as NaN from DuckDB
        lambda value: float(value[index]) if isinstance(value, (list, tuple, np.ndarray)) and len(value) == len(LABELS) else np.nan
    )
    ranked = side.assign(label_probability=probability).dropna(subset=["label_probability"])
    ranked = ranked[ranked["label_probability"] >= min_probability]
    return ranked.sort_values(["label_probability", "created_at"], ascending=[False, True], kind="stable").head(limit)


# word-like runs (dots allowed inside, not at the end): an id is replaced only as a whole word
_ID_LIKE = re.compile(r"[\w\-]+(?:\.[\w\-]+)*")


def scrub_user_ids(text: str, user_ids: Iterable[str], salt: str) -> str:
    """Replace every known raw user id inside a text (an @mention, a quote) by its pseudonym.

    Ids are matched as whole word-like runs against a set, so the cost does not grow with the
    number of known ids (the dashboard passes a whole cohort's).
    """
    known = user_ids if isinstance(user_ids, (set, frozenset)) else {str(user_id) for user_id in user_ids if user_id}
    if not known or not text:
        return text
    return _ID_LIKE.sub(lambda match: pseudonymize(match.group(0), salt) if match.group(0) in known else match.group(0), text)


def _truncate(text: str, limit: int = MAX_EXAMPLE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# ---------------------------------------------------------------------------------------------
# figures (plotly is imported lazily: the Airflow task parses this module cheaply)


def cohort_mix_figure(mix: pd.DataFrame) -> Any:
    """Stacked area of the cohort's mean emotion distribution per day (:func:`cohort_mix`)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    days = [day.isoformat() for day in mix.index]
    for label in LABELS:
        figure.add_trace(go.Scatter(
            x=days, y=mix[label].round(4).tolist(), name=label, mode="lines", stackgroup="mix",
            line={"width": 0.5, "color": LABEL_COLOURS[label]},
        ))
    figure.update_layout(title="Cohort emotion mix (mean per user and day)", yaxis={"title": "share", "range": [0, 1]},
                         xaxis={"title": "day"}, height=380, margin={"t": 50, "b": 40})
    return figure


def transitions_table_figure(transitions: pd.DataFrame, salt: str) -> Any:
    """The transitions, best first by confidence x magnitude, with pseudonymous users."""
    import plotly.graph_objects as go

    ranked = rank_transitions(transitions)
    columns = {
        "user": ranked["user_id"].map(lambda user_id: pseudonymize(user_id, salt)),
        "changed at": ranked["changed_at"],
        "from": ranked["from_label"],
        "to": ranked["to_label"],
        "score": ranked["score"].round(3),
        "magnitude": ranked["magnitude"].astype(float).round(3),
        "confidence": ranked["confidence"].astype(float).round(3),
        "posts before": ranked["posts_before"],
        "posts after": ranked["posts_after"],
        "detector": ranked["detector"],
    }
    figure = go.Figure(go.Table(
        header={"values": [f"<b>{name}</b>" for name in columns], "align": "left", "fill_color": "#e8eef5"},
        cells={"values": [series.tolist() for series in columns.values()], "align": "left", "height": 24},
        columnwidth=[1.6, 1.2, 1, 1, 0.8, 0.9, 0.9, 0.8, 0.8, 1.2],
    ))
    # rows beyond the height scroll inside the table
    figure.update_layout(title="Flagged transitions (score = confidence x magnitude)",
                         height=min(130 + 24 * len(ranked), 640), margin={"t": 50, "b": 10})
    return figure


def transition_matrix_figure(transitions: pd.DataFrame) -> Any:
    """Heatmap of transition counts, rows = from label, columns = to label."""
    import plotly.graph_objects as go

    counts = transition_matrix(transitions)
    figure = go.Figure(go.Heatmap(
        z=counts.to_numpy().tolist(), x=list(LABELS), y=list(LABELS), colorscale="Blues",
        text=counts.to_numpy().tolist(), texttemplate="%{text}", hovertemplate="%{y} -> %{x}: %{z}<extra></extra>",
    ))
    figure.update_layout(title="Transitions from -> to", xaxis={"title": "to"},
                         yaxis={"title": "from", "autorange": "reversed"}, height=420, margin={"t": 50})
    return figure


def user_timeline_figure(user_sequence: pd.DataFrame, changes: pd.DataFrame, pseudonym: str) -> Any:
    """One user's daily emotion distribution, one line per label, a dashed marker per change."""
    import plotly.graph_objects as go

    ordered = user_sequence.assign(day=pd.to_datetime(user_sequence["day"].to_numpy()).date).sort_values("day")
    days = [day.isoformat() for day in ordered["day"]]
    probabilities = np.vstack([np.asarray(value, dtype=float) for value in ordered["probs"]]) if len(ordered) else np.zeros((0, len(LABELS)))
    figure = go.Figure()
    for label in LABELS:
        figure.add_trace(go.Scatter(
            x=days, y=probabilities[:, LABEL_INDEX[label]].round(4).tolist(), name=label, mode="lines+markers",
            line={"color": LABEL_COLOURS[label]},
        ))
    for change in changes.itertuples():
        changed_at = str(change.changed_at)[:10]
        # a shape, not add_vline: add_vline's annotation arithmetic fails on category/date strings
        figure.add_shape(type="line", x0=changed_at, x1=changed_at, y0=0, y1=1, yref="paper",
                         line={"dash": "dash", "color": "black", "width": 1.5})
        figure.add_annotation(x=changed_at, y=1.02, yref="paper", showarrow=False,
                              text=f"{change.from_label} -> {change.to_label}")
    figure.update_layout(title=f"{pseudonym}: daily emotion distribution", yaxis={"title": "probability", "range": [0, 1]},
                         height=330, margin={"t": 60, "b": 40})
    return figure


def quality_counts_figure(manifests: Sequence[dict[str, Any]]) -> Any:
    """Per landing day: lines accepted, quarantined and dropped as duplicates (grouped bars)."""
    import plotly.graph_objects as go

    days = [str(manifest.get("landing_dt")) for manifest in manifests]
    figure = go.Figure()
    for name, colour in (("accepted", "#2ca02c"), ("quarantined", "#d62728"), ("duplicates", "#ff7f0e")):
        figure.add_trace(go.Bar(x=days, y=[int(manifest.get(name, 0) or 0) for manifest in manifests], name=name,
                                marker_color=colour))
    figure.update_layout(title="Landing lines per day", barmode="group", height=340, margin={"t": 50},
                         xaxis={"type": "category"}, yaxis={"title": "lines"})
    return figure


def quarantine_reasons_figure(manifests: Sequence[dict[str, Any]]) -> Any:
    """Per landing day: quarantined lines by reason code (stacked bars)."""
    import plotly.graph_objects as go

    days = [str(manifest.get("landing_dt")) for manifest in manifests]
    reasons = sorted({reason for manifest in manifests for reason in (manifest.get("quarantine_reasons") or {})})
    figure = go.Figure()
    for reason in reasons:
        figure.add_trace(go.Bar(
            x=days, y=[int((manifest.get("quarantine_reasons") or {}).get(reason, 0)) for manifest in manifests], name=reason,
        ))
    figure.update_layout(title="Quarantine reasons per day", barmode="stack", height=340, margin={"t": 50},
                         xaxis={"type": "category"}, yaxis={"title": "lines"})
    return figure


# ---------------------------------------------------------------------------------------------
# HTML assembly

_PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
header { border-bottom: 2px solid #ccd; margin-bottom: 1em; }
.counts span { display: inline-block; margin-right: 1.5em; }
.counts b { font-size: 1.3em; }
section { margin: 1.5em 0; }
.empty { color: #777; font-style: italic; }
.examples { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.examples ol { padding-left: 1.2em; }
.examples li { margin-bottom: .5em; }
.tokens { color: #555; font-size: .85em; }
table.quality td, table.quality th { padding: .2em .8em; text-align: right; border-bottom: 1px solid #eee; }
"""


def _figure_html(figure: Any, div_id: str) -> str:
    import plotly.io as plotly_io

    # a fixed div id keeps the page byte-identical when a day is rerun
    return plotly_io.to_html(figure, full_html=False, include_plotlyjs=False, div_id=div_id,
                             config={"displaylogo": False, "responsive": True})


def _examples_html(rows: pd.DataFrame, user_ids: Iterable[str], salt: str) -> str:
    if rows.empty:
        return '<p class="empty">No scored posts on this side of the change.</p>'
    items = []
    for row in rows.itertuples():
        text = row.text if isinstance(row.text, str) and row.text.strip() else None
        shown = html.escape(_truncate(scrub_user_ids(text, user_ids, salt))) if text else "<i>[image only]</i>"
        tokens = row.text_top_tokens if row.text_top_tokens is not None else []
        token_text = ", ".join(html.escape(scrub_user_ids(str(token), user_ids, salt)) for token in tokens)
        created = html.escape(str(pd.Timestamp(row.created_at).strftime("%Y-%m-%d %H:%M")))
        items.append(
            f"<li>{shown}<br><span class=\"tokens\">{created} UTC · p={row.label_probability:.2f} · "
            f"fused: {html.escape(str(row.fused_label))}"
            + (f" · top tokens: {token_text}" if token_text else "")
            + "</span></li>"
        )
    return "<ol>" + "".join(items) + "</ol>"


def _quality_table_html(manifests: Sequence[dict[str, Any]]) -> str:
    header = "<tr><th>landing day</th><th>read</th><th>accepted</th><th>quarantined</th><th>duplicates</th><th style=\"text-align:left\">reasons</th></tr>"
    rows = []
    for manifest in manifests:
        reasons = ", ".join(f"{html.escape(str(code))}: {int(count)}" for code, count in sorted((manifest.get("quarantine_reasons") or {}).items()))
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(manifest.get(name, '')))}</td>" for name in ("landing_dt", "read", "accepted", "quarantined", "duplicates"))
            + f"<td style=\"text-align:left\">{reasons}</td></tr>"
        )
    return f"<table class=\"quality\">{header}{''.join(rows)}</table>"


def build_dashboard(inputs: DashboardInputs, *, salt: str, top_transitions: int = 5, examples_per_side: int = 3,
                    plotly_js: str | None = None, plotly_src: str | None = None, max_table_rows: int = MAX_TABLE_ROWS) -> str:
    """The whole dashboard as one HTML string.

    Args:
        inputs: what :func:`load_inputs` read (or frames built by hand).
        salt: pseudonymisation key (``settings.pseudonym_salt``).
        top_transitions: how many of the best-scoring transitions get a timeline and examples.
        examples_per_side: example posts shown before and after each of those changes.
        plotly_js: the plotly.js source to inline; None inlines the bundled copy (the page
            then opens offline). Tests pass "" to keep pages small.
        plotly_src: a relative URL of a local plotly.js file to load instead of inlining
            (what :func:`run` uses: one shared copy keeps each day's page small).
        max_table_rows: the transitions table shows the strongest this many (the matrix and
            the counts still cover every transition).

    Returns:
        The HTML document. No raw user id appears in it; post texts appear only escaped.
    """
    if plotly_src is not None:
        plotly_js = ""
    elif plotly_js is None:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    sequences, transitions, posts = inputs.sequences, inputs.transitions, inputs.posts
    cohort = inputs.cohort if inputs.cohort is not None else summarize_cohort(sequences)
    user_ids = cohort.user_ids | set(transitions["user_id"].astype(str)) | set(posts["user_id"].astype(str))
    run_date = inputs.run_date.isoformat()
    run_manifest = next((manifest for manifest in inputs.manifests if str(manifest.get("landing_dt")) == run_date), None)

    counts = {
        "users": cohort.users,
        "user-days": cohort.user_days,
        "posts in window": cohort.posts,
        "transitions": len(transitions),
        "landing days with manifests": len(inputs.manifests),
    }
    window = f"{cohort.first_day} to {cohort.last_day}" if cohort.user_days else "no days"
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>emodrift dashboard {html.escape(run_date)}</title>",
        f"<style>{_PAGE_STYLE}</style>",
        f"<script type=\"text/javascript\">{plotly_js}</script>" if plotly_js else "",
        f"<script type=\"text/javascript\" src=\"{html.escape(plotly_src)}\"></script>" if plotly_src else "",
        "</head><body><header>",
        f"<h1>Emotion drift — as of {html.escape(run_date)}</h1>",
        f"<p>Window: {html.escape(window)}. User ids are pseudonymous (keyed hash).</p>",
        "<p class=\"counts\">" + "".join(f"<span><b>{value}</b> {html.escape(name)}</span>" for name, value in counts.items()) + "</p>",
        "</header>",
    ]

    parts.append("<section id=\"cohort\"><h2>Cohort emotion mix</h2>")
    parts.append(_figure_html(cohort_mix_figure(cohort.mix), "cohort-mix") if cohort.user_days
                 else '<p class="empty">No user sequences for this date: run the drift stage first.</p>')
    parts.append("</section>")

    ranked = rank_transitions(transitions) if len(transitions) else transitions
    parts.append("<section id=\"transitions\"><h2>Transitions</h2>")
    if len(transitions):
        if len(transitions) > max_table_rows:
            # a million-post night flags ~40,000 changes: a table that size makes a page of
            # megabytes that a browser opens slowly, and nobody reads past the strongest
            parts.append(f"<p>The {max_table_rows:,} strongest of {len(transitions):,} transitions; "
                         "<code>emodrift dashboard</code> lists and filters every one.</p>")
        parts.append(_figure_html(transitions_table_figure(ranked.head(max_table_rows), salt), "transitions-table"))
        parts.append(_figure_html(transition_matrix_figure(transitions), "transition-matrix"))
    else:
        parts.append('<p class="empty">No transitions flagged for this date.</p>')
    parts.append("</section>")

    parts.append("<section id=\"users\"><h2>Top transitions, user by user</h2>")
    shown_users: list[str] = []
    for row in ranked.itertuples():
        if len(shown_users) >= top_transitions:
            break
        if row.user_id in shown_users:
            continue
        shown_users.append(row.user_id)
        pseudonym = pseudonymize(row.user_id, salt)
        user_sequence = sequences[sequences["user_id"] == row.user_id]
        user_changes = ranked[ranked["user_id"] == row.user_id]
        parts.append(f"<h3>{html.escape(pseudonym)}: {html.escape(row.from_label)} -> {html.escape(row.to_label)} "
                     f"on {html.escape(row.changed_at)} (score {row.score:.2f})</h3>")
        parts.append(_figure_html(user_timeline_figure(user_sequence, user_changes, pseudonym), f"timeline-{len(shown_users)}"))
        before = example_posts(posts, row.user_id, row.changed_at, row.from_label, before=True, limit=examples_per_side)
        after = example_posts(posts, row.user_id, row.changed_at, row.to_label, before=False, limit=examples_per_side)
        parts.append(
            "<div class=\"examples\">"
            f"<div><h4>Before: most {html.escape(row.from_label)}</h4>{_examples_html(before, user_ids, salt)}</div>"
            f"<div><h4>After: most {html.escape(row.to_label)}</h4>{_examples_html(after, user_ids, salt)}</div>"
            "</div>"
        )
    if not shown_users:
        parts.append('<p class="empty">No transitions to show.</p>')
    parts.append("</section>")

    parts.append("<section id=\"quality\"><h2>Data quality</h2>")
    if run_manifest is None:
        parts.append(f'<p class="empty">No ingest manifest for landing day {html.escape(run_date)}.</p>')
    if inputs.manifests:
        parts.append(_quality_table_html(inputs.manifests))
        parts.append(_figure_html(quality_counts_figure(inputs.manifests), "quality-counts"))
        parts.append(_figure_html(quarantine_reasons_figure(inputs.manifests), "quarantine-reasons"))
    else:
        parts.append('<p class="empty">No ingest manifests in the window.</p>')
    parts.append("</section></body></html>\n")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# reading the lake (the edge)


def _read_table(path: Path, partition_fields: Sequence[str], filters: Any, columns: Sequence[str]) -> pd.DataFrame:
    """Read a hive-partitioned Parquet table with pyarrow; a missing or empty table is empty."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    if not path.is_dir() or not any(path.rglob("*.parquet")):
        return empty_frame(columns)
    # partition values stay strings: inferred types would turn dt into a date in one table
    # and a string in another
    partitioning = ds.partitioning(pa.schema([(name, pa.string()) for name in partition_fields]), flavor="hive")
    dataset = ds.dataset(str(path), format="parquet", partitioning=partitioning)
    # the first file's schema is not the table's when a column is all-null in that file
    # (written as type null): unify every file's schema, widening null to the real type
    file_schemas = [fragment.physical_schema for fragment in dataset.get_fragments()]
    schema = pa.unify_schemas([*file_schemas, partitioning.schema], promote_options="permissive")
    dataset = ds.dataset(str(path), format="parquet", partitioning=partitioning, schema=schema)
    wanted = [column for column in columns if column in dataset.schema.names]
    frame = dataset.to_table(columns=wanted, filter=filters).to_pandas()
    for column in columns:
        if column not in frame:
            frame[column] = None
    return frame[list(columns)]


def read_manifests(settings: Settings, first_day: dt.date, last_day: dt.date) -> tuple[dict[str, Any], ...]:
    """Ingest manifests of landing days in ``[first_day, last_day]``, oldest first."""
    folder = settings.table_path("manifests") / "ingest"
    manifests = []
    for path in sorted(folder.glob("landing_dt=*.json")) if folder.is_dir() else []:
        day = path.stem.split("=", 1)[1]
        if first_day.isoformat() <= day <= last_day.isoformat():
            manifest = json.loads(path.read_text())
            manifest.setdefault("landing_dt", day)
            manifests.append(manifest)
    return tuple(manifests)


def load_inputs(settings: Settings, run_date: dt.date, *, top_transitions: int = 5) -> DashboardInputs:
    """Read what the dashboard for ``run_date`` shows from the lake.

    Scores and posts are read only for the users of the ``top_transitions`` best transitions
    and only inside the look-back window: the dashboard shows examples for those, nothing more.
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    as_of = run_date.isoformat()
    first_day = run_date - dt.timedelta(days=settings.drift_lookback_days - 1)
    transitions = _read_table(settings.table_path("transitions"), ["dt"], ds.field("dt") == as_of, TRANSITION_COLUMNS)
    users = []
    if len(transitions):
        users = list(dict.fromkeys(rank_transitions(transitions)["user_id"]))[:top_transitions]
    cohort = read_cohort_summary(settings.table_path("sequences"), as_of)
    sequences = empty_frame(SEQUENCE_COLUMNS)
    posts = empty_frame(EXAMPLE_COLUMNS)
    if users:
        shown = pc.field("user_id").isin(users)
        sequences = _read_table(settings.table_path("sequences"), ["dt"], (ds.field("dt") == as_of) & shown, SEQUENCE_COLUMNS)
        window = (ds.field("dt") >= first_day.isoformat()) & (ds.field("dt") <= as_of) & shown
        scores = _read_table(settings.table_path("scores"), ["dt", "landing_dt"], window,
                             ("post_id", "user_id", "created_at", "fused_probs", "fused_label", "text_top_tokens"))
        post_rows = _read_table(settings.table_path("posts"), ["dt", "landing_dt"], window, ("post_id", "text", "image_path"))
        posts = join_scores_posts(scores, post_rows)
    return DashboardInputs(run_date, sequences, transitions, posts, read_manifests(settings, first_day, run_date), cohort)


def read_cohort_summary(path: Path, as_of: str, batch_rows: int = 65_536) -> CohortSummary:
    """:class:`CohortSummary` of the ``sequences`` snapshot ``dt=as_of``, ``batch_rows`` rows at
    a time: memory holds one batch, the per-day sums and the ids, not the snapshot."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    sums: dict[str, np.ndarray] = {}
    rows_per_day: dict[str, int] = {}
    user_ids: set[str] = set()
    user_days = posts = 0
    snapshot = path / f"dt={as_of}"
    if snapshot.is_dir() and any(snapshot.rglob("*.parquet")):
        scanner = ds.dataset(str(snapshot), format="parquet").scanner(
            columns=["user_id", "day", "post_count", "probs"], batch_size=batch_rows
        )
        for batch in scanner.to_batches():
            if not batch.num_rows:
                continue
            user_ids.update(batch.column("user_id").to_pylist())
            user_days += batch.num_rows
            posts += int(pc.sum(batch.column("post_count")).as_py() or 0)
            probs = batch.column("probs")
            valid = pc.list_value_length(probs).fill_null(0).to_numpy(zero_copy_only=False) == len(LABELS)
            if not valid.all():  # a row without a full distribution counts as a user-day, not in the mix
                keep = pa.array(valid)
                probs, days = probs.filter(keep), batch.column("day").filter(keep)
            else:
                days = batch.column("day")
            values = pc.list_flatten(probs).to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, len(LABELS))
            day_values = np.asarray(days.cast(pa.string()).to_pylist(), dtype=object)
            for day in np.unique(day_values):
                chosen = day_values == day
                sums[day] = sums.get(day, 0.0) + values[chosen].sum(axis=0)
                rows_per_day[day] = rows_per_day.get(day, 0) + int(chosen.sum())
    ordered = sorted(sums)
    mix = pd.DataFrame(
        [sums[day] / rows_per_day[day] for day in ordered], columns=list(LABELS),
        index=pd.Index([dt.date.fromisoformat(day) for day in ordered], name="day"),
    ) if ordered else pd.DataFrame(columns=list(LABELS), dtype=float)
    return CohortSummary(
        users=len(user_ids), user_days=user_days, posts=posts,
        first_day=ordered[0] if ordered else None, last_day=ordered[-1] if ordered else None,
        mix=mix, user_ids=frozenset(user_ids),
    )


def report_path(settings: Settings, run_date: dt.date) -> Path:
    """``lake/reports/dt=YYYY-MM-DD/dashboard.html``."""
    return settings.table_path("reports") / f"dt={run_date.isoformat()}" / "dashboard.html"


def shared_plotly_path(settings: Settings) -> Path:
    """``lake/reports/plotly-<version>.min.js``: one copy for every day's page (the version in
    the name lets an upgraded plotly sit beside the old one while older pages keep theirs)."""
    import plotly

    return settings.table_path("reports") / f"plotly-{plotly.__version__}.min.js"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)  # a reader never sees half a file


def run(settings: Settings, run_date: dt.date, *, top_transitions: int = 5) -> Path:
    """Read the lake, build the dashboard for ``run_date`` and write it; returns its path.

    plotly.js is written once beside the day folders and loaded by a relative path, so the
    page still opens offline while staying small (4.9 MB inlined, a few hundred kB shared).
    """
    from plotly.offline import get_plotlyjs

    inputs = load_inputs(settings, run_date, top_transitions=top_transitions)
    plotly_path = shared_plotly_path(settings)
    if not plotly_path.exists():
        _write_atomically(plotly_path, get_plotlyjs())
    page = build_dashboard(inputs, salt=settings.pseudonym_salt, top_transitions=top_transitions,
                           plotly_src=f"../{plotly_path.name}")
    path = report_path(settings, run_date)
    _write_atomically(path, page)
    return path


def main(argv: list[str] | None = None) -> int:
    """``emodrift report --date YYYY-MM-DD``: write that day's dashboard, recorded in table
    ``runs`` like every other stage (under the stage's run lock)."""
    parser = argparse.ArgumentParser(prog="emodrift report", description=__doc__.splitlines()[0])
    parser.add_argument("--date", required=True, help="as-of date, YYYY-MM-DD")
    parser.add_argument("--top", type=int, default=5, help="transitions shown with timelines and examples (default 5)")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        run_date = parse_date(args.date)
    except ValueError as error:
        parser.error(str(error))
    if args.top < 0:
        parser.error(f"--top must be >= 0, got {args.top}")
    from jobs.lake import LakeBusyError
    from jobs.stage import stage_run

    settings = Settings.from_args(args)
    try:
        with stage_run(settings, "report", run_date) as record:
            path = run(settings, run_date, top_transitions=args.top)
            record.result = {"path": str(path), "bytes": path.stat().st_size, "top_transitions": args.top}
    except (OSError, ValueError, LakeBusyError) as error:
        print(f"emodrift report: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
