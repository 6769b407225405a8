"""Score one landing day's posts: text LSTM, face CNN, fused distribution -> table ``scores``.

    posts/dt=*/landing_dt=D  ->  scores/dt=*/landing_dt=D   (same partitions, one row per post)

Scoring runs inside ``mapInPandas``: each Python worker loads the two models once (they are
cached in their modules, which survive across tasks because workers are reused) and scores
whole Arrow batches, on CUDA when the worker has it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from jobs.lake import read_table, replace_partitions, write_manifest
from jobs.settings import Settings
from jobs.stage import run_single_day
from models.fusion import fuse, top_label

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from models.image.inference import ImageScorer

SCORES_SCHEMA = (
    "post_id string, user_id string, created_at timestamp, "
    "text_probs array<float>, text_status string, text_top_tokens array<string>, text_language string, "
    "text_labels array<string>, "
    "image_probs array<float>, image_status string, face_count int, face_boxes array<array<int>>, "
    "image_features array<float>, fused_probs array<float>, fused_label string, "
    "text_model_version string, image_model_version string, dt string, landing_dt string"
)
SCORES_COLUMNS = [part.split()[0] for part in SCORES_SCHEMA.split(", ")]
MAX_IMAGE_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ScoringOptions:
    """Plain values the workers need (the Settings object stays on the driver)."""

    text_model: str
    image_model: str
    device: str = "auto"
    batch_size: int = 256
    text_weight: float = 0.5
    torch_threads: int = 1


def read_image(path: str | None, max_bytes: int = MAX_IMAGE_BYTES) -> tuple[bytes | None, str | None]:
    """Read an image file for scoring: (bytes, None), or (None, status) when it cannot be read.

    The size cap protects the worker from a multi-gigabyte file; the decoder separately caps
    the pixel count against decompression bombs.
    """
    if path is None:
        return None, "no_image"
    local_path = Path(path.removeprefix("file://").removeprefix("file:"))
    try:
        status = local_path.stat()
        if not stat.S_ISREG(status.st_mode):  # a FIFO would block the task, a device never end
            return None, "unreadable"
        if status.st_size > max_bytes:
            return None, "too_large"
        return local_path.read_bytes(), None
    except (OSError, ValueError):  # ValueError: a path with an embedded NUL
        return None, "unreadable"


def score_batch(posts: pd.DataFrame, options: ScoringOptions) -> pd.DataFrame:
    """Score a batch of posts (columns of table ``posts``) into rows of table ``scores``."""
    import torch

    from models.image.inference import load_image_scorer
    from models.text.inference import load_text_scorer

    # one intra-op thread per Spark task: Spark already runs one task per core
    torch.set_num_threads(options.torch_threads)
    text_scorer = load_text_scorer(Path(options.text_model), options.device)
    image_scorer = load_image_scorer(Path(options.image_model), options.device)

    text_scores = text_scorer.score(list(posts["text"]), batch_size=options.batch_size)

    image_scores = score_image_files(image_scorer, list(posts["image_path"]), options.batch_size)

    result = pd.DataFrame(
        {
            "post_id": posts["post_id"].to_numpy(),
            "user_id": posts["user_id"].to_numpy(),
            "created_at": posts["created_at"].to_numpy(),
            "dt": posts["dt"].to_numpy(),
            "landing_dt": posts["landing_dt"].to_numpy(),
        }
    )
    for column in ("text_probs", "text_status", "text_top_tokens", "text_language", "text_labels"):
        result[column] = text_scores[column].to_numpy()
    for column in ("image_probs", "image_status", "face_count", "face_boxes", "image_features"):
        result[column] = image_scores[column].to_numpy()
    fused = [
        fuse(text_probs, image_probs, text_weight=options.text_weight)
        for text_probs, image_probs in zip(result["text_probs"], result["image_probs"])
    ]
    result["fused_probs"] = [None if probs is None else [float(value) for value in probs] for probs in fused]
    result["fused_label"] = [top_label(probs) for probs in fused]
    result["face_count"] = result["face_count"].fillna(0).astype("int32")
    result["text_model_version"] = text_scorer.version
    result["image_model_version"] = image_scorer.version
    return result[SCORES_COLUMNS]


def score_image_files(image_scorer: ImageScorer, paths: list[str | None], batch_size: int) -> pd.DataFrame:
    """Read and score image files ``batch_size`` at a time.

    Arrow hands a worker up to 10,000 posts at once; holding all their photos' bytes (a few
    hundred MiB for 3,000 photos) would make a worker's memory grow with the batch, not with
    ``batch_size``. One chunk of encoded files is alive at a time.
    """
    chunks = []
    for start in range(0, len(paths), batch_size):
        images, read_status = [], []
        for path in paths[start : start + batch_size]:
            content, status = read_image(None if pd.isna(path) else path)
            images.append(content)
            read_status.append(status)
        chunk = image_scorer.score_bytes(images, batch_size=batch_size)
        # one column assignment: a text-only night sets "no_image" on every row
        chunk["image_status"] = [scored if read is None else read for scored, read in zip(chunk["image_status"], read_status)]
        chunks.append(chunk)
    if not chunks:
        return image_scorer.score_bytes([], batch_size=batch_size)
    return pd.concat(chunks, ignore_index=True)


def extract(spark: SparkSession, settings: Settings, landing_date: dt.date) -> DataFrame:
    """Posts written by landing day ``landing_date`` (any ``dt``)."""
    posts = read_table(spark, settings, "posts")
    if posts is None:
        raise FileNotFoundError(f"table posts not found under {settings.lake}: run `emodrift ingest` first")
    return posts.where(posts.landing_dt == landing_date.isoformat())


def spread(posts: DataFrame, partitions: int) -> DataFrame:
    """``posts`` hashed by ``post_id`` into ``partitions`` partitions of about equal size.

    The number of input partitions says nothing about where the rows are: a landing day's
    posts are one Parquet file of one row group, and Spark cuts a file above 4 MiB
    (``spark.sql.files.openCostInBytes``) into byte ranges of which only the one holding the
    row group's middle reads any rows. Taking that count at its word left one core scoring a
    250,000-post night while the other idled (benchmarks/RESULTS.md, "one core idle"). Scoring
    costs ~1,000x the shuffle of the posts' few columns, so the night is always spread.
    """
    if partitions <= 1:
        return posts.coalesce(1)  # one core: every row in one partition already, no shuffle
    return posts.repartition(partitions, "post_id")


def transform(posts: DataFrame, *, options: ScoringOptions, partitions: int) -> DataFrame:
    """Score every post; ``partitions`` spreads the work over the cluster's cores."""

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if len(batch):
                yield score_batch(batch.reset_index(drop=True), options)

    return spread(posts, partitions).mapInPandas(score_batches, SCORES_SCHEMA)


def load(scores: DataFrame, settings: Settings, landing_date: dt.date) -> None:
    replace_partitions(scores, settings.table_path("scores"), ["dt", "landing_dt"], f"dt=*/landing_dt={landing_date.isoformat()}")


def scoring_options(settings: Settings) -> ScoringOptions:
    return ScoringOptions(
        text_model=str(settings.text_model),
        image_model=str(settings.image_model),
        device=settings.device,
        batch_size=settings.score_batch_size,
    )


def run(spark: SparkSession, settings: Settings, run_date: dt.date) -> dict[str, object]:
    """Score landing day ``run_date``; returns (and writes) the manifest of counts."""
    from pyspark.sql import functions as F

    from jobs.preflight import check_models

    model_versions = check_models(settings)  # a missing or corrupt model fails here, before any write
    posts = extract(spark, settings, run_date)
    partitions = max(1, spark.sparkContext.defaultParallelism)
    load(transform(posts, options=scoring_options(settings), partitions=partitions), settings, run_date)
    # Counted from the published rows, not from a cached copy of the scored frame: caching a
    # night's scores (arrays per row) cost the JVM more CPU than reading four small columns back,
    # and its memory grew with the day.
    written = read_table(spark, settings, "scores")  # None: an empty first day wrote no table
    statuses = [] if written is None else (
        written.where(written.landing_dt == run_date.isoformat())
        .groupBy("text_status", "image_status", "text_model_version", "image_model_version")
        .agg(
            F.count(F.lit(1)).alias("count"),
            F.count("fused_label").alias("fused"),
            F.sum((F.col("face_count") > 0).cast("int")).alias("with_face"),
        )
        .collect()
    )
    manifest = {
        "stage": "score",
        "landing_dt": run_date.isoformat(),
        "posts": posts.count(),
        "scored": sum(row["count"] for row in statuses),
        "fused": sum(row["fused"] for row in statuses),
        "with_face": sum(row["with_face"] or 0 for row in statuses),
        "text_status": _sum_by(statuses, "text_status"),
        "image_status": _sum_by(statuses, "image_status"),
        "model_versions": written_versions(statuses, model_versions),
    }
    write_manifest(settings, "score", f"landing_dt={run_date.isoformat()}", manifest)
    return manifest


def written_versions(rows: list, checked: dict[str, str]) -> dict[str, str]:
    """The model versions the night's rows carry, by kind (several joined by ", ").

    The driver's preflight loads the models on its CPU; executors with a GPU score with the GPU
    reading of the face model, whose version differs (``-read...``). The manifest names what
    the rows were scored with; ``checked`` (the preflight's) only when no row was written.
    """
    versions = {}
    for kind in ("text", "image"):
        found = sorted({str(row[f"{kind}_model_version"]) for row in rows if row[f"{kind}_model_version"] is not None})
        versions[kind] = ", ".join(found) if found else checked[kind]
    return versions


def _sum_by(rows: list, key: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[str(row[key])] = totals.get(str(row[key]), 0) + row["count"]
    return dict(sorted(totals.items()))


def main(argv: list[str] | None = None) -> int:
    return run_single_day(
        argv,
        name="score",
        description="Score the posts landed on DATE (text LSTM + face CNN, fused) into table scores.",
        run=run,
    )


if __name__ == "__main__":
    raise SystemExit(main())
