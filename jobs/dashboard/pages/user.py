"""One user: emotion timeline with change points, the temporal model's forecast against the actual
days and its surprise, before/after, evidence posts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import dash
import pandas as pd
from dash import dcc, html

from jobs.dashboard import figures, queries
from jobs.dashboard.app import current_config, default_range
from jobs.dashboard.components import graph, href
from jobs.report import scrub_user_ids


MAX_POST_CHARS = 500


def _post_item(post: pd.Series, side: str, user_ids: frozenset[str], salt: str) -> html.Li:
    """One evidence post; its text goes into the page as text (React escapes it), never as HTML."""
    text = post.get("text")
    shown = scrub_user_ids(str(text), user_ids, salt) if isinstance(text, str) and text.strip() else None
    if shown and len(shown) > MAX_POST_CHARS:
        shown = shown[: MAX_POST_CHARS - 1] + "…"
    tokens = post.get("text_top_tokens")
    tokens = [str(token) for token in tokens] if tokens is not None and len(tokens) else []
    created = pd.Timestamp(post["created_at"]).strftime("%Y-%m-%d %H:%M")
    parts = [html.P(shown, className="post-text") if shown else html.P("[image only]", className="post-text empty")]
    if isinstance(post.get("image_path"), str) and post.get("dt"):
        parts.append(html.Img(src=f"/thumbnail/{post['dt']}/{post['post_id']}.png", className="thumbnail",
                              alt="post image with detected faces boxed"))
    details = f"{created} UTC · fused: {post.get('fused_label')}"
    if "label_probability" in post and pd.notna(post["label_probability"]):
        details += f" · p={float(post['label_probability']):.2f}"
    if tokens:
        details += " · top tokens: " + ", ".join(scrub_user_ids(token, user_ids, salt) for token in tokens)
    parts.append(html.Span(details, className="tokens"))
    return html.Li(parts, className=f"evidence-post evidence-{side}")


def layout(user_id: str | None = None, end: str | None = None, change: str | None = None, **_: str) -> html.Div:
    config = current_config()
    _, end = default_range(config.lake, None, end)
    raw_id = config.resolve_user(user_id or "", end)
    if raw_id is None:
        return html.Div([html.H2("Unknown user"), html.P(f"No user {user_id!r} in the snapshot as of {end}.", className="empty")])
    shown = config.display_id(raw_id)
    # independent reads: DuckDB releases the GIL, so the two overlap
    with ThreadPoolExecutor(max_workers=2) as pool:
        sequence_future = pool.submit(queries.user_sequence, config.lake, raw_id, end)
        changes = queries.user_transitions(config.lake, raw_id, end)
        sequence = sequence_future.result()
    first_day, last_day = queries.window_of(sequence, end)
    chosen = None
    if len(changes):
        matches = changes.index[changes["changed_at"] == change].tolist() if change else []
        chosen = changes.loc[matches[0]] if matches else changes.sort_values("score", ascending=False).iloc[0]
    change_links = [
        dcc.Link(f"{row.changed_at}: {row.from_label} → {row.to_label} (score {row.score:.2f}, {row.detector})",
                 href=href(f"/user/{shown}", {"end": end, "change": row.changed_at}),
                 className="change-link" + (" selected" if chosen is not None and row.changed_at == chosen["changed_at"] else ""))
        for row in changes.itertuples()
    ]
    body = [
        html.H2(f"{shown}: {len(sequence)} active days, {int(sequence['post_count'].sum()) if len(sequence) else 0} posts"),
        html.Div(change_links, className="changes") if change_links else html.P("No transitions flagged for this user.", className="empty"),
        graph("user-timeline", figures.user_timeline_figure(
            sequence, changes, f"{shown}: daily emotion distribution, the temporal model's forecast and surprise")),
    ]
    if chosen is not None:
        before_mean, after_mean = queries.before_after_means(sequence, chosen)
        stored = queries.evidence_post_ids(chosen)
        if stored is not None:
            post_ids = [*stored[0], *stored[1]]
            days = queries.locate_posts(config.lake, raw_id, first_day, last_day, post_ids)
        else:
            post_ids, days = None, queries.evidence_days(sequence, chosen)
        scored = queries.user_posts(config.lake, raw_id, first_day, last_day, post_ids, days=days, texts=False)
        before_posts, after_posts = queries.evidence_posts(scored, chosen)
        # one read of the texts for both sides
        texts = queries.with_texts(config.lake, raw_id, pd.concat([before_posts, after_posts], ignore_index=True))
        before_posts, after_posts = texts.iloc[: len(before_posts)], texts.iloc[len(before_posts):]
        ids = config.known_user_ids(end) if not config.raw_user_ids else frozenset()
        body += [
            graph("user-before-after", figures.before_after_figure(
                before_mean, after_mean, f"Before and after {chosen['changed_at']}: {chosen['from_label']} → {chosen['to_label']}")),
            html.H3("Evidence posts"),
            html.Div([
                html.Div([html.H4(f"Before: most {chosen['from_label']}"),
                          html.Ol([_post_item(post, "before", ids, config.salt) for _, post in before_posts.iterrows()])
                          if len(before_posts) else html.P("No scored posts on this side.", className="empty")]),
                html.Div([html.H4(f"After: most {chosen['to_label']}"),
                          html.Ol([_post_item(post, "after", ids, config.salt) for _, post in after_posts.iterrows()])
                          if len(after_posts) else html.P("No scored posts on this side.", className="empty")]),
            ], className="evidence", id="user-evidence"),
        ]
    return html.Div(body)


dash.register_page(__name__, path_template="/user/<user_id>", name="User", title="emodrift: user", layout=layout)
