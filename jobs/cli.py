"""The ``emodrift`` command: one entry point for every stage and model tool.

Each sub-command lives in its own module with a ``main(argv) -> int``; this file only
dispatches, importing the module lazily so ``emodrift --help`` stays fast and never starts
Spark or loads a model.
"""

from __future__ import annotations

import importlib
import sys

# command words -> (module:function, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("sample",): ("jobs.sample.generator:main", "write sample landing folders and the planted ground truth"),
    ("ingest",): ("jobs.ingest:main", "validate one landing day into table posts (+ quarantine)"),
    ("check",): ("jobs.quality:main", "data-quality check: fail when a day's counts do not reconcile"),
    ("score",): ("jobs.score:main", "score one day's posts (text LSTM + face CNN, fused) into table scores"),
    ("drift",): ("jobs.detect_drift:main", "build user sequences and flag emotional transitions"),
    ("report",): ("jobs.report:main", "write the plotly drift dashboard for one day"),
    ("dashboard",): ("jobs.dashboard.app:main", "serve the drift dashboard (Dash) over the lake on 127.0.0.1:8050"),
    ("backfill",): ("jobs.commands.backfill:main", "run every stage over a date range, day by day in one Spark app"),
    ("summary",): ("jobs.commands.summary:main", "print posts, users, quarantined rows, transitions and the dashboard path"),
    ("train", "text"): ("jobs.commands.text:train_main", "train the text emotion LSTM on GoEmotions"),
    ("train", "text-teacher"): ("jobs.commands.text:teacher_main", "fine-tune the MiniLM text teacher on GoEmotions"),
    ("train", "image"): ("jobs.commands.image:train_main", "train the face emotion CNN on FER2013"),
    ("train", "face-detector"): ("jobs.commands.face_detector:main", "distil the BlazeFace face detector into the faster one the scorer runs"),
    ("eval", "text"): ("jobs.commands.text:eval_main", "evaluate the text model on a GoEmotions TSV"),
    ("eval", "image"): ("jobs.commands.image:eval_main", "evaluate the face CNN on an npz or class folders"),
    ("score-text",): ("jobs.commands.text:score_main", "score a JSONL of posts' texts into parquet"),
    ("score-images",): ("jobs.commands.image:score_main", "score images (folder or JSONL of posts) into parquet"),
}


def usage() -> str:
    lines = [
        "usage: emodrift <command> [options]   (emodrift <command> --help for its options)",
        "",
        "Daily pipeline (each takes --date YYYY-MM-DD):",
    ]
    for words, (_, help_text) in COMMANDS.items():
        lines.append(f"  {' '.join(words):<14} {help_text}")
    lines += [
        "",
        "Settings come from EMODRIFT_* environment variables or the matching flags,",
        "e.g. --lake ./lake --landing ./landing --spark-master local[*].",
        "Example: emodrift sample --users 40 --days 14 --seed 7 && emodrift backfill "
        "--start 2026-01-01 --end 2026-01-14",
    ]
    return "\n".join(lines)


def resolve(argv: list[str]) -> tuple[str, list[str]] | None:
    """Find the longest command prefix of ``argv``; return its target and the rest."""
    for length in (2, 1):
        words = tuple(argv[:length])
        if words in COMMANDS:
            return COMMANDS[words][0], argv[length:]
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0
    found = resolve(argv)
    if found is None:
        known = sorted({" ".join(words) for words in COMMANDS})
        print(f"emodrift: unknown command {' '.join(argv[:2])!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    target, rest = found
    module_name, function_name = target.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    return int(function(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
