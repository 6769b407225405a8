"""Transitions: a sortable, filterable, server-side paged table; clicking a row opens the user."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dash_table, dcc, html

from jobs.dashboard import queries
from jobs.dashboard.app import current_config, default_range
from jobs.dashboard.components import date_range_control, float_or_none, href, int_or, navigator
from models.labels import LABELS


PAGE_SIZE = 25
PATH = "/transitions"
COLUMN_NAMES = {
    "user": "user", "changed_at": "changed at", "from_label": "from", "to_label": "to", "score": "score",
    "magnitude": "magnitude", "confidence": "confidence", "posts_before": "posts before", "posts_after": "posts after",
    "detector": "detector", "first_flagged_dt": "first flagged",
}  # transition_id stays out: the drift stage may derive it from the raw user id


def _label_dropdown(component_id: str, value: str | None, placeholder: str) -> dcc.Dropdown:
    return dcc.Dropdown(id=component_id, options=list(LABELS), value=value if value in LABELS else None,
                        placeholder=placeholder, clearable=True)


def layout(start: str | None = None, end: str | None = None, from_label: str | None = None, to_label: str | None = None,
           min_confidence: str | None = None, min_magnitude: str | None = None, detector: str | None = None,
           sort: str | None = None, page: str | None = None, **_: str) -> html.Div:
    config = current_config()
    start, end = default_range(config.lake, start, end)
    sort_column, _, direction = (sort or "score:desc").partition(":")
    if sort_column not in queries.SORTABLE_TRANSITION_COLUMNS:
        sort_column, direction = "score", "desc"
    page_number = max(0, int_or(page, 0))
    try:
        filters = queries.TransitionFilters(
            start=start, end=end, from_label=from_label if from_label in LABELS else None,
            to_label=to_label if to_label in LABELS else None, min_confidence=float_or_none(min_confidence),
            min_magnitude=float_or_none(min_magnitude), detector=detector or None)
        error = None
    except ValueError as problem:
        filters, error = queries.TransitionFilters(start=start, end=end), str(problem)
    rows, total = queries.transitions_page(config.lake, filters, sort_by=[(sort_column, direction == "asc")],
                                           page=page_number, page_size=PAGE_SIZE)
    rows = rows.assign(user=[config.display_id(user_id) for user_id in rows["user_id"]]).drop(columns=["user_id", "model_version"], errors="ignore")
    for column in ("score", "magnitude", "confidence"):
        if column in rows:
            rows[column] = rows[column].astype(float).round(3)
    columns = [{"name": name, "id": column} for column, name in COLUMN_NAMES.items() if column in rows]
    page_count = max(1, -(-total // PAGE_SIZE))
    return html.Div([
        navigator("transitions"),
        html.Div([
            date_range_control("transitions", start, end),
            html.Div([html.Label("From"), _label_dropdown("transitions-from", from_label, "any")], className="control"),
            html.Div([html.Label("To"), _label_dropdown("transitions-to", to_label, "any")], className="control"),
            html.Div([html.Label("Min confidence"), dcc.Input(id="transitions-min-confidence", type="number", min=0, max=1,
                                                              step="any", value=float_or_none(min_confidence))], className="control"),
            html.Div([html.Label("Min magnitude"), dcc.Input(id="transitions-min-magnitude", type="number", min=0, step="any",
                                                             value=float_or_none(min_magnitude))], className="control"),
            html.Div([html.Label("Detector"), dcc.Dropdown(id="transitions-detector", options=queries.detectors(config.lake, end),
                                                           value=detector or None, placeholder="any")], className="control"),
            html.Button("Apply", id="transitions-apply", n_clicks=0),
        ], className="controls"),
        html.P(error, className="error") if error else None,
        html.P(f"{total} transitions match (changes dated {start} to {end}, as of the latest run by {end}). "
               "Click a row to open the user.", id="transitions-count", className="summary"),
        dash_table.DataTable(
            id="transitions-table", data=rows.to_dict("records"), columns=columns,
            page_action="custom", page_current=min(page_number, page_count - 1), page_size=PAGE_SIZE, page_count=page_count,
            sort_action="custom", sort_mode="single",
            sort_by=[{"column_id": "user" if sort_column == "user_id" else sort_column, "direction": direction}],
            style_cell={"textAlign": "left", "cursor": "pointer", "fontFamily": "system-ui, sans-serif"},
            style_header={"fontWeight": "bold", "backgroundColor": "#e8eef5"},
        ),
    ])


dash.register_page(__name__, path="/transitions", name="Transitions", order=1, title="emodrift: transitions", layout=layout)


@callback(
    Output("transitions-navigate", "href"),
    Input("transitions-apply", "n_clicks"),
    Input("transitions-table", "page_current"),
    Input("transitions-table", "sort_by"),
    Input("transitions-table", "active_cell"),
    State("transitions-table", "data"),
    State("transitions-range", "start_date"),
    State("transitions-range", "end_date"),
    State("transitions-from", "value"),
    State("transitions-to", "value"),
    State("transitions-min-confidence", "value"),
    State("transitions-min-magnitude", "value"),
    State("transitions-detector", "value"),
    prevent_initial_call=True,
)
def navigate(_clicks, page_current, sort_by, active_cell, data, start, end, from_label, to_label, min_confidence,
             min_magnitude, detector) -> str:
    """Write the table's state into the URL, or open the clicked row's user."""
    end = (end or "")[:10]
    triggered = set(ctx.triggered_prop_ids)
    if "transitions-table.active_cell" in triggered and active_cell and data:
        row = data[active_cell["row"]]
        return href(f"/user/{row['user']}", {"end": end, "change": row.get("changed_at")})
    sort = None
    if sort_by:
        column = "user_id" if sort_by[0]["column_id"] == "user" else sort_by[0]["column_id"]
        sort = f"{column}:{sort_by[0]['direction']}"
    # a new filter or sort order starts again at the first page
    page = page_current if "transitions-table.page_current" in triggered else 0
    return href(PATH, {
        "start": (start or "")[:10], "end": end, "from_label": from_label, "to_label": to_label,
        "min_confidence": min_confidence, "min_magnitude": min_magnitude, "detector": detector, "sort": sort,
        "page": page or None,
    })
