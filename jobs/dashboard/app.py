"""The app shell: ``emodrift dashboard`` serves the drift dashboard (Dash Pages) over the lake.

Views live in :mod:`jobs.dashboard.pages` (one module each); they read through
:mod:`jobs.dashboard.queries` and draw with :mod:`jobs.dashboard.figures`. This file builds the
Dash app, holds the analyst's configuration, serves thumbnails and parses the command line.

Offline and private by default: every script and stylesheet is served by the app itself
(``serve_locally``, no external stylesheets), the server binds to 127.0.0.1, users appear as
the keyed hash of their id unless ``--raw-user-ids`` is given, and a thumbnail is served only
when the image lies inside the landing folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs.settings import Settings

CONFIG_KEY = "EMODRIFT_DASHBOARD"
DEFAULT_RANGE_DAYS = 14
THUMBNAIL_PIXELS = 192
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_POST_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")


@dataclasses.dataclass(frozen=True)
class DashboardConfig:
    """What the server needs, read once at the edge.

    Args:
        lake: the Parquet lake.
        landing: the landing folder; thumbnails are served from inside it only.
        salt: pseudonymisation key (``settings.pseudonym_salt``).
        raw_user_ids: show raw user ids instead of the keyed hash (an analyst allowed to).
        text_model, image_model, device, text_weight: the models "try a post" runs.
    """

    lake: Path
    landing: Path
    salt: str
    raw_user_ids: bool = False
    text_model: Path = Settings.text_model
    image_model: Path = Settings.image_model
    device: str = "cpu"
    text_weight: float = 0.5
    # pseudonym -> raw id per snapshot: computed once, the HMAC of 100,000 ids takes ~0.2 s
    _pseudonyms: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, compare=False, repr=False)
    # per-day cohort aggregates of a whole snapshot, keyed by its files and their mtimes
    _cohorts: dict[tuple, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    _cohort_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, compare=False, repr=False)
    # the events of table runs, keyed by its file listing
    _runs: dict[tuple, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    _runs_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, raw_user_ids: bool = False) -> DashboardConfig:
        from jobs.score import scoring_options

        options = scoring_options(settings)
        return cls(lake=Path(settings.lake), landing=Path(settings.landing), salt=settings.pseudonym_salt,
                   raw_user_ids=raw_user_ids, text_model=Path(options.text_model), image_model=Path(options.image_model),
                   device="cpu" if settings.device == "auto" else settings.device, text_weight=options.text_weight)

    def display_id(self, user_id: str) -> str:
        """What the analyst sees for a user: the keyed hash, or the raw id when allowed."""
        from jobs.report import pseudonymize

        return str(user_id) if self.raw_user_ids else pseudonymize(str(user_id), self.salt)

    def _shown_to_raw(self, as_of: str | None) -> dict[str, str]:
        from jobs.dashboard.queries import snapshot_date, snapshot_user_ids

        snapshot = snapshot_date(self.lake, as_of)
        if snapshot is None:
            return {}
        with self._lock:
            if snapshot not in self._pseudonyms:
                self._pseudonyms[snapshot] = {self.display_id(user_id): user_id for user_id in snapshot_user_ids(self.lake, snapshot)}
            return self._pseudonyms[snapshot]

    def resolve_user(self, shown: str, as_of: str | None) -> str | None:
        """The raw id behind a displayed id in the snapshot as of ``as_of`` (None when unknown)."""
        return self._shown_to_raw(as_of).get(shown)

    def known_user_ids(self, as_of: str | None) -> frozenset[str]:
        """Every raw id of the snapshot as of ``as_of``: what post texts are scrubbed of."""
        return frozenset(self._shown_to_raw(as_of).values())

    def cohort_daily(self, start: str, end: str) -> Any:
        """:func:`queries.cohort_daily` for ``[start, end]``, served from the whole snapshot's
        per-day aggregate, computed once per snapshot (a snapshot holds 90 days x 100,000 users;
        any range of it is then a filter over at most 90 rows). A rewritten snapshot has new
        file modification times, hence a new key."""
        from jobs.dashboard.queries import cohort_daily, snapshot_date, snapshot_files

        snapshot = snapshot_date(self.lake, end)
        files = snapshot_files(self.lake, "sequences", end)
        key = (snapshot, tuple((file, Path(file).stat().st_mtime_ns) for file in files))
        with self._cohort_lock:
            if key not in self._cohorts:
                self._cohorts.clear()
                self._cohorts[key] = cohort_daily(self.lake, "", snapshot or end)
            whole = self._cohorts[key]
        return whole[(whole["day"] >= start) & (whole["day"] <= end)].reset_index(drop=True)

    def stage_runs(self, start: str, end: str) -> Any:
        """:func:`queries.stage_runs` for ``[start, end]``, over the ``runs`` table's events read
        once per state of the table (a run appends files; reading ~1,000 small files costs about
        a second, listing their names a few milliseconds)."""
        from jobs.dashboard.queries import run_events, run_files, stage_runs

        key = run_files(self.lake)
        with self._runs_lock:
            if key not in self._runs:
                self._runs.clear()
                self._runs[key] = run_events(self.lake)
            events = self._runs[key]
        return stage_runs(self.lake, start, end, events=events)

    def warm_up(self) -> None:
        """Build what the first page loads would otherwise wait for: the id map, the cohort
        aggregate and the run records."""
        self.known_user_ids(None)
        self.cohort_daily("", "9999-12-31")
        self.stage_runs("", "9999-12-31")


def current_config() -> DashboardConfig:
    """The configuration of the app serving this request."""
    import flask

    return flask.current_app.config[CONFIG_KEY]


def default_range(lake: Path, start: str | None, end: str | None) -> tuple[str, str]:
    """The range a view shows: the URL's, else the last ``DEFAULT_RANGE_DAYS`` of the latest snapshot."""
    from jobs.dashboard.queries import snapshot_date

    def valid(value: str | None) -> str | None:
        return value if value and _DAY.match(value) else None

    last = valid(end) or snapshot_date(lake) or dt.date.today().isoformat()
    first = valid(start) or (dt.date.fromisoformat(last) - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)).isoformat()
    return (first, last) if first <= last else (last, first)


def image_inside(landing: Path, image_path: str) -> Path | None:
    """The image's local path when it resolves inside ``landing`` (links followed), else None."""
    local = Path(image_path.removeprefix("file://").removeprefix("file:"))
    try:
        resolved, root = local.resolve(strict=True), landing.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return resolved if resolved.is_relative_to(root) and resolved.is_file() else None


def thumbnail_png(data: bytes, face_boxes: Sequence[Sequence[int]], size: int = THUMBNAIL_PIXELS) -> bytes:
    """A PNG thumbnail of an image with its face boxes ([x, y, w, h] in original pixels) drawn.

    Raises:
        OSError: the bytes are not an image PIL can read.
        ValueError: the image is over PIL's decompression-bomb limit.
    """
    from PIL import Image, ImageDraw, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except Image.DecompressionBombError as error:  # not an OSError: callers catch ValueError
        raise ValueError(f"image too large to draw: {error}") from error
    draw = ImageDraw.Draw(image)
    line = max(2, round(max(image.size) / 100))
    for x, y, width, height in face_boxes:
        draw.rectangle([x, y, x + width, y + height], outline=(230, 30, 30), width=line)
    image.thumbnail((size, size))
    output = io.BytesIO()
    image.save(output, format="PNG")
    return output.getvalue()


def _thumbnail_route(partition: str, post_id: str) -> Any:
    import flask

    from jobs.dashboard.queries import post_image

    config = current_config()
    if not _DAY.match(partition) or not _POST_ID.match(post_id):
        flask.abort(400)
    found = post_image(config.lake, post_id, partition)
    if found is None:
        flask.abort(404)
    path = image_inside(config.landing, found["image_path"])
    if path is None:  # outside the landing folder, or gone
        flask.abort(403)
    try:
        content = thumbnail_png(path.read_bytes(), found["face_boxes"])
    except (OSError, ValueError):
        flask.abort(415)
    return flask.Response(content, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


def create_app(config: DashboardConfig) -> Any:
    """The Dash app over ``config.lake`` (not started: call ``app.run`` or use ``app.server``)."""
    import dash
    from dash import dcc, html

    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder="",  # pages are imported below, from the package
        serve_locally=True,
        external_stylesheets=[],
        external_scripts=[],
        assets_folder=str(Path(__file__).resolve().parent / "assets"),
        suppress_callback_exceptions=True,
        title="emodrift drift dashboard",
        update_title=None,
        # plotly.js (4.6 MB) loads with the page rather than when the first graph mounts, so
        # fetching and compiling it overlaps the layout callback's round trip
        eager_loading=True,
    )
    app.server.config[CONFIG_KEY] = config
    app.server.add_url_rule("/thumbnail/<partition>/<post_id>.png", "thumbnail", _thumbnail_route)
    from jobs.dashboard.pages import health, overview, transitions, try_post, user  # noqa: F401  (registers pages)

    navigation = [
        dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in dash.page_registry.values() if not page.get("path_template")
    ]
    app.layout = html.Div([
        html.Header([html.H1("emodrift: emotion drift"), html.Nav(navigation)]),
        html.P("User ids are shown as a keyed hash." if not config.raw_user_ids else "Raw user ids shown (--raw-user-ids).",
               className="privacy"),
        dash.page_container,
    ])
    return app


def main(argv: list[str] | None = None) -> int:
    """``emodrift dashboard [--lake PATH] [--host 127.0.0.1] [--port 8050]``."""
    parser = argparse.ArgumentParser(prog="emodrift dashboard", description="Serve the drift dashboard over the lake (Dash).")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    parser.add_argument("--raw-user-ids", action="store_true", help="show raw user ids instead of their keyed hash")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, dev tools)")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    settings = Settings.from_args(args)
    if not Path(settings.lake).is_dir():
        parser.error(f"no lake at {settings.lake}: pass --lake PATH (or set EMODRIFT_LAKE), e.g. after `make demo`")
    config = DashboardConfig.from_settings(settings, raw_user_ids=args.raw_user_ids)
    app = create_app(config)
    # built while the server starts, not on the first page load
    threading.Thread(target=config.warm_up, daemon=True, name="warm-up").start()
    print(f"emodrift dashboard on http://{args.host}:{args.port}/ over {settings.lake}")
    app.run(host=args.host, port=args.port, debug=args.debug)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
