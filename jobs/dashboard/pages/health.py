"""Run health: model versions, each stage's runs per day (status, duration, rows, errors) from the
``runs`` table, counts per stage per day from the manifests, quarantine by reason, quality gates
(recomputed and as run)."""

from __future__ import annotations

import dash
from dash import dash_table, html

from jobs.dashboard import figures, queries
from jobs.dashboard.app import current_config, default_range
from jobs.dashboard.components import date_range_control, date_range_navigation, graph, navigator


WRAPPED_COLUMNS = ("counts", "error", "model_versions", "problems", "recorded_error")


def _table(component_id: str, frame) -> dash_table.DataTable:
    shown = frame.astype(str).replace({"NaT": "", "None": "", "nan": "", "<NA>": ""})
    return dash_table.DataTable(id=component_id, data=shown.to_dict("records"),
                                columns=[{"name": column, "id": column} for column in frame.columns],
                                page_size=20, sort_action="native", style_table={"overflowX": "auto"},
                                style_cell={"textAlign": "left"},
                                # the long free-text columns wrap; days, times and counts stay on one line
                                style_cell_conditional=[{"if": {"column_id": column}, "whiteSpace": "normal", "minWidth": "14em",
                                                         "maxWidth": "30em"} for column in WRAPPED_COLUMNS if column in frame],
                                style_header={"fontWeight": "bold", "backgroundColor": "#e8eef5"},
                                style_data_conditional=[
                                    {"if": {"filter_query": f'{{{column}}} = "{status}"'}, "color": colour}
                                    for column in ("status", "recorded") if column in frame
                                    for status, colour in (("failed", "#c0392b"), ("unfinished", "#e67e22"), ("missing", "#e67e22"))])


def _runs_shown(runs):
    """The runs as the table shows them: start to the second, no end (the duration says it), no id."""
    return runs.drop(columns=["run_id", "ended_at"]).assign(started_at=runs["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))


def layout(start: str | None = None, end: str | None = None, **_: str) -> html.Div:
    config = current_config()
    start, end = default_range(config.lake, start, end)
    runs = config.stage_runs(start, end)
    gates = queries.with_recorded_gates(queries.quality_gates(config.lake, start, end), runs)
    failed = int((gates["status"] != "ok").sum()) if len(gates) else 0
    unfinished = runs[runs["status"] != "succeeded"]
    return html.Div([
        navigator("health"),
        html.Div([date_range_control("health", start, end), html.Button("Apply", id="health-apply", n_clicks=0)],
                 className="controls"),
        html.H2(f"Stage runs: {len(runs)}, {int((runs['status'] == 'failed').sum())} failed, "
                f"{int((runs['status'] == 'unfinished').sum())} unfinished"),
        graph("health-runs-figure", figures.stage_runs_figure(runs)),
        _table("health-runs", _runs_shown(runs)),
        html.Details([html.Summary(f"Failed or unfinished runs ({len(unfinished)})"),
                      _table("health-problem-runs", _runs_shown(unfinished)[["stage", "date", "status", "started_at", "error"]])],
                     open=True) if len(unfinished) else html.P("Every recorded run succeeded.", className="empty"),
        html.H2("Model versions"),
        _table("health-models", queries.model_versions(config.lake, start, end)),
        html.Div([graph("health-counts", figures.stage_counts_figure(queries.stage_counts(config.lake, start, end))),
                  graph("health-quarantine", figures.quarantine_figure(queries.quarantine_by_reason(config.lake, start, end)))],
                 className="grid two"),
        html.H2(f"Quality gates: {len(gates) - failed} passed, {failed} failed or missing"),
        _table("health-gates", gates),
    ])


dash.register_page(__name__, path="/health", name="Run health", order=3, title="emodrift: run health", layout=layout)
date_range_navigation("health", "/health")
