"""Throughput of the Spark score job against the same models scoring in one process.

    python benchmarks/score_spark.py --texts 20000 --images 1000

Measures, per core (torch with one intra-op thread, Spark local[N] with N cores):
  text  (a) TextScorer alone          (c) Spark score job on text-only posts
  image (b) decode + detect + classify (c) Spark score job on image-only posts
and prints the ratios (c)/(a) and (c)/(b) plus peak RSS of the process tree (driver, JVM and
Python workers). Image posts are FER2013 training faces upscaled to 144x144 PNGs, so the Haar
detector has real faces to find; that part is skipped when the shared data is absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from jobs.settings import Settings

DAY = dt.date(2026, 1, 15)


def tree_cpu_seconds() -> float:
    """User + system CPU seconds of this process and every live descendant (Spark's JVM and
    Python workers included; reused workers live across runs, so differences are exact)."""
    root = psutil.Process()
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


class PeakMemory:
    """Samples the RSS of this process and all its descendants every 50 ms."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        root = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [root, *root.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sample_texts(count: int, seed: int) -> list[str]:
    from jobs.sample.generator import generate_sample

    sample = generate_sample(users=60, days=30, seed=seed)
    texts = [post.text for post in sample.posts if post.text]
    rng = np.random.default_rng(seed)
    return [texts[index] for index in rng.integers(0, len(texts), size=count)]


def face_images(count: int, shared_data: Path, seed: int) -> list[bytes] | None:
    from PIL import Image

    path = shared_data / "fer2013" / "train_48x48.npz"
    if not path.exists():
        return None
    faces = np.load(path)["images"]
    rng = np.random.default_rng(seed)
    images = []
    for index in rng.integers(0, len(faces), size=count):
        buffer = io.BytesIO()
        Image.fromarray(faces[index]).resize((144, 144), Image.BILINEAR).save(buffer, format="PNG")
        images.append(buffer.getvalue())
    return images


def timed(function, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (this process and its descendants: Spark's
    JVM and Python workers) over ``repeats`` runs, after one warm-up run.

    CPU seconds are what a shared machine cannot inflate by time-slicing: on a busy 2-core
    machine the wall time of a one-core job measures the other users, not the job.
    """
    function()
    walls, cpus = [], []
    for _ in range(repeats):
        cpu_started, wall_started = tree_cpu_seconds(), time.perf_counter()
        function()
        walls.append(time.perf_counter() - wall_started)
        cpus.append(tree_cpu_seconds() - cpu_started)
    return statistics.median(walls), statistics.median(cpus)


def spark_seconds(posts: pd.DataFrame, cores: int, repeats: int) -> tuple[tuple[float, float], int]:
    """Median (wall, CPU) seconds of ``jobs.score.run`` over ``posts`` on local[cores], and peak RSS."""
    from jobs import score
    from jobs.spark import build_session

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(lake=Path(folder) / "lake", spark_master=f"local[{cores}]", shuffle_partitions=cores)
        spark = build_session(settings, "emodrift-benchmark")
        spark.createDataFrame(posts).write.partitionBy("dt", "landing_dt").parquet(str(settings.table_path("posts")))
        with PeakMemory() as memory:
            seconds = timed(lambda: score.run(spark, settings, DAY), repeats)
        spark.stop()
    return seconds, memory.peak_bytes


def posts_frame(texts: list[str | None], image_paths: list[str | None]) -> pd.DataFrame:
    count = len(texts)
    return pd.DataFrame(
        {
            "post_id": [f"p{index:07d}" for index in range(count)],
            "user_id": [f"u{index % 100}" for index in range(count)],
            "created_at": pd.to_datetime(["2026-01-15 12:00"] * count),
            "text": texts,
            "image_path": image_paths,
            "dt": [DAY.isoformat()] * count,
            "landing_dt": [DAY.isoformat()] * count,
        }
    )


def report(name: str, count: int, seconds: tuple[float, float], cores: int, unit: str, extra: str) -> None:
    wall, cpu = seconds
    print(f"{name}: {count / wall / cores:9.1f} {unit}/s per core (wall)  {count / cpu:9.1f} {unit} per CPU-second  {extra}", flush=True)


def print_ratio(name: str, alone: tuple[float, float], spark: tuple[float, float], cores: int) -> None:
    """(c)/(a): per-core wall ratio (the script's historical figure) and the CPU-second ratio."""
    wall_ratio = alone[0] * cores / spark[0]
    print(f"{name} ratio (c)/(a)   : {wall_ratio:.2f} per core (wall)  {alone[1] / spark[1]:.2f} per CPU-second", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--cores", type=int, default=2, help="Spark local[N]; figures are divided by N")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    from models.image.inference import load_image_scorer
    from models.text.inference import load_text_scorer

    torch.set_num_threads(1)
    settings = Settings.from_env()
    text_scorer = load_text_scorer(settings.text_model, "cpu")
    image_scorer = load_image_scorer(settings.image_model, "cpu")

    if args.texts > 0:  # --texts 0 measures the image path only
        texts = sample_texts(args.texts, args.seed)
        with PeakMemory() as memory:
            alone = timed(lambda: text_scorer.score(texts, batch_size=settings.score_batch_size), args.repeats)
        report("text  (a) model alone ", args.texts, alone, 1, "posts", f"peak RSS {memory.peak_bytes / 2**20:.0f} MiB")
        spark, peak = spark_seconds(posts_frame(texts, [None] * args.texts), args.cores, args.repeats)
        report("text  (c) Spark job   ", args.texts, spark, args.cores, "posts", f"peak RSS {peak / 2**20:.0f} MiB (tree)")
        print_ratio("text ", alone, spark, args.cores)

    if args.images <= 0:
        return 0
    images = face_images(args.images, settings.shared_data, args.seed)
    if images is None:
        print(f"image: skipped, no FER2013 data under {settings.shared_data}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, content in enumerate(images):
            path = Path(folder) / f"face{index:05d}.png"
            path.write_bytes(content)
            paths.append(f"file://{path}")

        def decode_detect_classify() -> None:
            image_scorer.score_bytes([Path(path.removeprefix("file://")).read_bytes() for path in paths])

        with PeakMemory() as memory:
            alone = timed(decode_detect_classify, args.repeats)
        found = image_scorer.score_bytes(images[:200])["face_count"].gt(0).mean()
        report("image (b) in-process  ", args.images, alone, 1, "images", f"peak RSS {memory.peak_bytes / 2**20:.0f} MiB  (faces found in {found:.0%})")
        spark, peak = spark_seconds(posts_frame([None] * args.images, paths), args.cores, args.repeats)
        report("image (c) Spark job   ", args.images, spark, args.cores, "images", f"peak RSS {peak / 2**20:.0f} MiB (tree)")
        print_ratio("image", alone, spark, args.cores)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
