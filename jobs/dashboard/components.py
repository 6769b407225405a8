"""Pieces every page shares: the URL <-> state helpers and the date-range control.

The URL is the state: a page's layout is built from its query string, and a control only
rewrites the URL (``dcc.Location`` with ``refresh="callback-nav"``), so any view can be shared
and reloaded as it was.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from dash import Input, Output, State, callback, dcc, html

GRAPH_CONFIG = {"displaylogo": False, "responsive": True}


def href(path: str, state: Mapping[str, Any]) -> str:
    """``path`` with the non-empty values of ``state`` as its query string."""
    query = {key: value for key, value in state.items() if value is not None and value != "" and value != []}
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


def float_or_none(value: Any) -> float | None:
    """A float from a URL or an input, None when empty or not a number."""
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


def int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def date_range_control(prefix: str, start: str, end: str) -> html.Div:
    """A labelled date-range picker (id ``{prefix}-range``)."""
    return html.Div([
        html.Label("Days"),
        dcc.DatePickerRange(id=f"{prefix}-range", start_date=start, end_date=end, display_format="YYYY-MM-DD",
                            minimum_nights=0),
    ], className="control")


def navigator(prefix: str) -> dcc.Location:
    """The page's own URL writer: setting its ``href`` navigates without a full reload."""
    return dcc.Location(id=f"{prefix}-navigate", refresh="callback-nav")


def graph(graph_id: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG, className="graph")


def date_range_navigation(prefix: str, path: str) -> None:
    """Register the callback that writes a page's date range into its URL when Apply is clicked."""

    @callback(
        Output(f"{prefix}-navigate", "href"),
        Input(f"{prefix}-apply", "n_clicks"),
        State(f"{prefix}-range", "start_date"),
        State(f"{prefix}-range", "end_date"),
        prevent_initial_call=True,
    )
    def apply_range(_: int, start: str | None, end: str | None) -> str:
        return href(path, {"start": (start or "")[:10], "end": (end or "")[:10]})
