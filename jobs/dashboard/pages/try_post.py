"""Try a post: paste a text and/or upload a photo, see what the pipeline's own models read."""

from __future__ import annotations

import base64

import dash
from dash import Input, Output, State, callback, dcc, html

from jobs.dashboard import figures
from jobs.dashboard.app import current_config, thumbnail_png
from jobs.dashboard.components import graph
from jobs.dashboard.scoring import score_post


MAX_UPLOAD_BYTES = 8 * 1024 * 1024


def layout(**_: str) -> html.Div:
    return html.Div([
        html.P("Score a post with the models the pipeline runs (text model, face detector and face model, fusion)."),
        dcc.Textarea(id="try-text", placeholder="Paste a post's text", style={"width": "100%", "height": "6em"}),
        dcc.Upload(id="try-image", children=html.Div(["Drop a photo here or ", html.A("choose a file")]),
                   className="upload", accept="image/*", max_size=MAX_UPLOAD_BYTES),
        html.Button("Score", id="try-score", n_clicks=0),
        dcc.Loading(html.Div(id="try-result")),
    ])


dash.register_page(__name__, path="/try", name="Try a post", order=4, title="emodrift: try a post", layout=layout)


@callback(
    Output("try-result", "children"),
    Input("try-score", "n_clicks"),
    State("try-text", "value"),
    State("try-image", "contents"),
    prevent_initial_call=True,
)
def score(_: int, text: str | None, contents: str | None) -> list:
    config = current_config()
    image = None
    if contents:
        try:
            image = base64.b64decode(contents.split(",", 1)[1], validate=True)
        except (IndexError, ValueError):
            return [html.P("The upload is not a readable file.", className="error")]
    result = score_post(text, image, config)
    children = [
        html.P(f"Fused: {result['fused_label'] or 'nothing to score'} · text: {result['text_status']} · "
               f"image: {result['image_status']} ({result['face_count']} faces)", id="try-summary"),
        graph("try-probabilities", figures.probabilities_figure(
            {"text": result["text_probs"], "face": result["image_probs"], "fused": result["fused_probs"]}, "Per-label probabilities")),
    ]
    if result["text_top_tokens"]:
        children.append(html.P("Top tokens: " + ", ".join(result["text_top_tokens"]), id="try-tokens"))
    if image is not None and result["image_status"] not in {"undecodable", "too_large"}:
        try:
            thumbnail = thumbnail_png(image, result["face_boxes"], size=320)
            children.append(html.Img(src="data:image/png;base64," + base64.b64encode(thumbnail).decode("ascii"),
                                     className="thumbnail", id="try-thumbnail"))
        except (OSError, ValueError):
            pass
    return children
