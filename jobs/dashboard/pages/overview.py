"""Cohort overview for a date range: emotion mix, posts and users, transitions, strongest drifts."""

from __future__ import annotations

import dash
from dash import dcc, html

from jobs.dashboard import figures, queries
from jobs.dashboard.app import current_config, default_range
from jobs.dashboard.components import date_range_control, date_range_navigation, graph, href, navigator


def layout(start: str | None = None, end: str | None = None, **_: str) -> html.Div:
    config = current_config()
    start, end = default_range(config.lake, start, end)
    daily = config.cohort_daily(start, end)
    per_day = queries.transitions_per_day(config.lake, start, end)
    strongest = queries.strongest_drifts(config.lake, start, end, limit=10)
    days = list(daily["day"]) if not daily.empty else []
    rows = [
        html.Tr([
            html.Td(dcc.Link(config.display_id(row.user_id), href=href(f"/user/{config.display_id(row.user_id)}", {"end": end}))),
            html.Td(row.changed_at), html.Td(f"{row.from_label} → {row.to_label}"), html.Td(f"{row.score:.3f}"),
            html.Td(int(row.transitions)),
        ])
        for row in strongest.itertuples()
    ]
    return html.Div([
        navigator("overview"),
        html.Div([date_range_control("overview", start, end), html.Button("Apply", id="overview-apply", n_clicks=0)],
                 className="controls"),
        html.P(f"{start} to {end}: {int(daily['posts'].sum()) if len(daily) else 0} posts, "
               f"{int(per_day['transitions'].sum()) if len(per_day) else 0} transitions", className="summary"),
        html.Div([graph("overview-mix", figures.cohort_mix_figure(daily)),
                  graph("overview-activity", figures.activity_figure(daily)),
                  graph("overview-transitions", figures.transitions_per_day_figure(per_day, days))], className="grid"),
        html.H2("Strongest drifts in the range"),
        html.Table([html.Thead(html.Tr([html.Th(name) for name in ("user", "changed at", "change", "score", "transitions")])),
                    html.Tbody(rows)], id="overview-strongest", className="table")
        if rows else html.P("No transitions in this range.", className="empty"),
    ])


dash.register_page(__name__, path="/", name="Overview", order=0, title="emodrift: overview", layout=layout)
date_range_navigation("overview", "/")
