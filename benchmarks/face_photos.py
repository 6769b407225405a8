"""Faces in photos: speed, detection and accuracy of the face path on photo-sized JPEGs.

Unseen FER2013 faces (the shipped model's validation split) are pasted into JPEGs of
320-1280 px (``models.image.photos``: varied scenes, positions, 12-40 % face sizes, JPEG
quality 60-95; 12 % of photos without a face, 15 % with two faces of one label), then scored

  (cli)    by ``emodrift score-images --threads 1`` as a new user runs it (wall time includes
           starting Python and loading the model),
  (in)     by ``ImageScorer.score_bytes`` in this process on one torch thread (model loaded),
  (spark)  by the Spark score job (``jobs.score.run``) on local[N], per core, after one
           warm-up run so the workers hold the model, as in a nightly run,

and prints photos/s per core (wall time; and photos per CPU-second of the whole process tree,
which is what one core delivers when the machine is shared and wall time is not),  the share of photos with a face where one was found, false
detections (photos with a box that is no pasted face), accuracy of the top label on photos
whose face was found, end to end (every photo with a face; none found counts as wrong), the
aligned-crop accuracy of the same model on the whole validation split (the reference the photo
accuracy is held to), and peak RSS.

Run: .venv/bin/python benchmarks/face_photos.py [--photos 600] [--cores 1] [--skip-cli] [--skip-spark]
     [--levers | --detectors | --classifiers | --view-sets] [--profile FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from score_spark import PeakMemory, posts_frame, tree_cpu_seconds  # noqa: E402  (sibling benchmark script)

from models.image.photos import PhotoSet, matches_face, photo_set  # noqa: E402

DAY = dt.date(2026, 1, 15)


def validation_faces(model_dir: Path, data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The faces every network of the shipped model held out (its recorded split)."""
    from models.image.inference import training_split
    from models.image.training import load_face_dataset, stratified_split

    split = training_split(model_dir)
    if split is None:
        raise SystemExit(f"{model_dir}/config.json records no training split: cannot tell which faces are unseen")
    images, labels = load_face_dataset(data)
    _, validation = stratified_split(labels, split[1], split[0])
    return images[validation], labels[validation]


def photo_metrics(photos: PhotoSet, scores: pd.DataFrame) -> dict[str, float]:
    """Detection and accuracy figures for score rows aligned with ``photos`` (same order)."""
    has_face = photos.labels >= 0
    found = np.zeros(len(photos.photos), dtype=bool)
    false_box = np.zeros(len(photos.photos), dtype=bool)
    correct = np.zeros(len(photos.photos), dtype=bool)
    for index, (photo, (_, row)) in enumerate(zip(photos.photos, scores.iterrows())):
        boxes = [list(box) for box in (row["face_boxes"] if row["face_boxes"] is not None else [])]
        matched = [any(matches_face(box, pasted) for pasted in photo.face_boxes) for box in boxes]
        found[index] = any(matched)
        false_box[index] = not all(matched)
        probabilities = row["image_probs"]
        if probabilities is not None and has_face[index]:
            correct[index] = int(np.argmax(np.asarray(probabilities))) == photos.labels[index]
    return {
        "photos": len(photos.photos),
        "photos_with_face": int(has_face.sum()),
        "detection_rate": float(found[has_face].mean()),
        "false_detection_rate": float(false_box.mean()),
        "false_detection_rate_no_face_photos": float(false_box[~has_face].mean()) if (~has_face).any() else float("nan"),
        "accuracy_detected": float(correct[has_face & found].mean()) if (has_face & found).any() else float("nan"),
        "accuracy_end_to_end": float(correct[has_face].mean()),
    }


def print_metrics(
    name: str, photos_per_second: float, photos_per_cpu_second: float, metrics: dict[str, float], peak_bytes: int, note: str = ""
) -> None:
    print(
        f"{name:<7} {photos_per_second:7.1f} photos/s per core (wall) | {photos_per_cpu_second:7.1f} photos per CPU-second | detected {metrics['detection_rate']:.1%} of "
        f"{metrics['photos_with_face']} photos with a face | false detections {metrics['false_detection_rate']:.1%} of "
        f"{metrics['photos']} photos ({metrics['false_detection_rate_no_face_photos']:.1%} of no-face photos) | "
        f"accuracy on detected {metrics['accuracy_detected']:.3f} | end to end {metrics['accuracy_end_to_end']:.3f} | "
        f"peak RSS {peak_bytes / 2**20:.0f} MiB{note}",
        flush=True,
    )


def run_cli(folder: Path, count: int, model_dir: Path, threads: int) -> tuple[float, float, pd.DataFrame, int]:
    """Wall and CPU seconds of ``emodrift score-images`` over the folder, its rows in file order, peak RSS."""
    import resource

    output = folder / "cli_scores.parquet"
    command = [
        str(Path(sys.executable).with_name("emodrift")), "score-images", "--input", str(folder / "photos"),
        "--output", str(output), "--threads", str(threads), "--image-model", str(model_dir),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with PeakMemory() as memory:
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    scores = pd.read_parquet(output).sort_values("post_id").reset_index(drop=True)
    if len(scores) != count:
        raise SystemExit(f"score-images wrote {len(scores)} rows for {count} photos")
    return seconds, cpu_seconds, scores, memory.peak_bytes


class SamplerPeakMemory(PeakMemory):
    """:class:`PeakMemory` that also records the CPU seconds its own sampling thread spent
    (walking the process tree every 50 ms costs about a CPU-second a minute): they are the
    benchmark's, not the scorer's, and are taken out of the CPU figures."""

    sampler_cpu_seconds = 0.0

    def _sample(self) -> None:
        super()._sample()
        self.sampler_cpu_seconds = time.thread_time()


def cpu_seconds_by_process() -> dict[str, float]:
    """User + system CPU seconds of this process ("driver"), Spark's JVM ("jvm") and the Python
    workers ("workers"), live processes only (reused workers live across runs)."""
    import psutil

    root = psutil.Process()
    totals = {"driver": 0.0, "jvm": 0.0, "workers": 0.0}
    for process in [root, *root.children(recursive=True)]:
        try:
            times, command = process.cpu_times(), " ".join(process.cmdline())
        except psutil.Error:
            continue
        kind = "driver" if process.pid == root.pid else "jvm" if "java" in command else "workers"
        totals[kind] += times.user + times.system
    return totals


def run_spark(paths: list[str], model_dir: Path, cores: int, repeats: int) -> tuple[float, float, pd.DataFrame, int, dict]:
    """Median wall and CPU seconds (whole process tree) of the score job over image-only posts,
    after a warm-up run; its rows; peak RSS; median CPU seconds per kind of process (the
    workers' share grows with the photos, the JVM's is mostly a fixed cost per run)."""
    import statistics

    from jobs import score
    from jobs.settings import Settings
    from jobs.spark import build_session

    with tempfile.TemporaryDirectory() as lake_folder:
        settings = dataclasses.replace(
            Settings.from_env(), lake=Path(lake_folder) / "lake", spark_master=f"local[{cores}]",
            shuffle_partitions=cores, image_model=model_dir,
        )
        spark = build_session(settings, "emodrift-face-photos")
        posts = posts_frame([None] * len(paths), paths)
        spark.createDataFrame(posts).write.partitionBy("dt", "landing_dt").parquet(str(settings.table_path("posts")))
        score.run(spark, settings, DAY)  # warm-up: workers start and load the models
        durations, cpu_durations, by_process = [], [], []
        with SamplerPeakMemory() as memory:
            for _ in range(repeats):
                started, cpu_started, kinds_started = time.perf_counter(), tree_cpu_seconds(), cpu_seconds_by_process()
                score.run(spark, settings, DAY)
                durations.append(time.perf_counter() - started)
                cpu_durations.append(tree_cpu_seconds() - cpu_started)
                by_process.append({kind: value - kinds_started[kind] for kind, value in cpu_seconds_by_process().items()})
        scores = spark.read.parquet(str(settings.table_path("scores"))).select("post_id", "image_probs", "face_boxes").toPandas()
        spark.stop()
    scores = posts[["post_id"]].merge(scores, on="post_id", how="left")
    sampler_per_run = memory.sampler_cpu_seconds / repeats
    kinds = {kind: statistics.median(run[kind] for run in by_process) for kind in by_process[0]}
    kinds["driver"] = max(0.0, kinds["driver"] - sampler_per_run)
    cpu_seconds = statistics.median(cpu_durations) - sampler_per_run
    return statistics.median(durations), cpu_seconds, scores, memory.peak_bytes, kinds


def lever_variants(scorer) -> list[tuple[str, object]]:
    """The first checkpoints' reading of photos, then one change at a time (each on top of the
    previous ones) up to the shipped reading, then one speed lever past it."""
    from models.image.faces import FaceDetector

    def variant(previous, *, members=None, **changes):
        """``previous`` with config fields changed; a Haar detector is rebuilt from ``detector``."""
        config = dataclasses.replace(previous.config, **changes)
        face_detector = FaceDetector(**config.detector) if "detector" in changes else previous.detector
        return type(previous)(previous.network, config, previous.version, previous.device,
                              previous.members if members is None else members, face_detector)

    haar = {"work_short_side": 240, "scale_factor": 1.05, "min_neighbors": 3, "confirm_cascade": "haarcascade_frontalface_alt2.xml"}
    steps = [("first reading: Haar on the full decode, equalised crops",
              variant(scorer, detector={}, decode_short_side=None, equalize_crops=True))]
    steps.append(("+ JPEG draft decode, short side >= 400", variant(steps[-1][1], decode_short_side=400)))
    steps.append(("+ Haar on a copy with short side 240", variant(steps[-1][1], detector={"work_short_side": 240})))
    steps.append(("+ no crop equalisation", variant(steps[-1][1], equalize_crops=False)))
    steps.append(("+ Haar scale 1.05, 3 neighbours, alt2 confirms", variant(steps[-1][1], detector=haar)))
    steps.append(("+ BlazeFace detector (as shipped)", scorer))
    steps.append(("+ one network instead of 3 (speed lever; costs accuracy)", variant(scorer, members=[])))
    return steps


def detector_variants(scorer, model_dir: Path) -> list[tuple[str, object]]:
    """The shipped scorer with MediaPipe's BlazeFace (the distillation's teacher) on the area
    reading, then on the pyramid reading, then the shipped (distilled) detector: one lever at a
    time, emotion networks shared."""
    from models.image.inference import load_face_detector

    def with_detector(detector_settings: dict):
        config = dataclasses.replace(scorer.config, detector=detector_settings)
        detector = load_face_detector(config, model_dir, "cpu")
        return type(scorer)(scorer.network, config, scorer.version, scorer.device, scorer.members, detector, scorer.int8_sessions)

    mediapipe = {key: value for key, value in scorer.config.detector.items() if key not in ("weights", "shipped_weights", "resize")}
    return [
        ("MediaPipe BlazeFace, area resize (the distillation's teacher)", with_detector({**mediapipe, "resize": "area"})),
        ("MediaPipe BlazeFace, pyramid resize", with_detector({**mediapipe, "resize": "pyramid"})),
        ("distilled BlazeFace, pyramid resize (as shipped)", scorer),
    ]


def classifier_variants(scorer) -> list[tuple[str, object]]:
    """The shipped scorer with its emotion networks in PyTorch or int8, 2 or its own views
    (everything else, detector included, shared)."""

    def variant(views: str, int8: bool):
        def config_of(config):
            return dataclasses.replace(config, test_time_shift=0) if views == "2" else config

        return type(scorer)(scorer.network, config_of(scorer.config), scorer.version, scorer.device,
                            [(network, config_of(config)) for network, config in scorer.members], scorer.detector,
                            scorer.int8_sessions if int8 else None)

    own = str(2 * len(view_offsets(scorer.config)))
    return [("PyTorch, 2 views", variant("2", False)), ("int8, 2 views", variant("2", True)),
            (f"int8, {own} views (shipped)", variant(own, True)), (f"PyTorch, {own} views", variant(own, False))]


def view_offsets(config) -> list[tuple[int, int]]:
    from models.image.training import _view_offsets

    return _view_offsets(config.test_time_shift, config.test_time_diagonals)


def view_sets(scorer, faces: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
    """Aligned accuracy of view sets through the int8 graphs, on all faces and two seeded halves."""
    from models.image.network import faces_to_input

    if scorer.int8_sessions is None:
        raise SystemExit("--view-sets needs the int8 graphs (onnxruntime and model.int8.onnx files)")
    configs = [scorer.config] + [config for _, config in scorer.members]
    corners = [(-2, -2), (-2, 2), (2, -2), (2, 2)]
    probabilities = {}  # (offset, mirrored) -> ensemble mean over the networks
    for offset in [(0, 0), *corners]:
        for mirrored in (False, True):
            total = 0.0
            for session, config in zip(scorer.int8_sessions, configs):
                inputs = faces_to_input(faces, crop_size=config.crop_size, mean=config.pixel_mean, std=config.pixel_std, offset=offset)
                inputs = np.ascontiguousarray(inputs[..., ::-1] if mirrored else inputs, dtype=np.float32)
                total = total + session.run(["probabilities"], {"faces": inputs})[0]
            probabilities[offset, mirrored] = total / len(configs)
    both = (False, True)
    sets = {
        "centre + mirror": [((0, 0), m) for m in both],
        "centre + 4 diagonal shifts, no mirror": [((0, 0), False)] + [(c, False) for c in corners],
        "centre + up-left + down-right, mirrored": [(o, m) for o in [(0, 0), (-2, -2), (2, 2)] for m in both],
        "centre + up-right + down-left, mirrored": [(o, m) for o in [(0, 0), (-2, 2), (2, -2)] for m in both],
        "centre + 4 diagonal shifts, mirrored": [(o, m) for o in [(0, 0), *corners] for m in both],
    }
    half = np.random.default_rng(seed).permutation(len(faces)) < len(faces) // 2
    for name, views in sets.items():
        correct = np.mean([probabilities[view] for view in views], axis=0).argmax(axis=1) == labels
        print(f"views {name:<42} all {correct.mean():.4f} | half A {correct[half].mean():.4f} | half B {correct[~half].mean():.4f} "
              f"| {len(views) * len(configs)} passes per face", flush=True)
    # Adaptive views (config ``full_views_margin``): centre + mirror for every face, the shipped
    # views only where the ensemble's top-two margin on those two is below the margin. The
    # margin is picked per half as the smallest (0.05 steps) whose top label equals the
    # all-views one on every face of that half, and checked on the other half.
    shipped = sets["centre + up-left + down-right, mirrored"]
    first = np.mean([probabilities[view] for view in sets["centre + mirror"]], axis=0)
    every = np.mean([probabilities[view] for view in shipped], axis=0)
    top_two = np.sort(first, axis=1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]
    for margin in np.round(np.arange(0.05, 0.501, 0.05), 2):
        unsure = margins < margin
        predicted = np.where(unsure[:, None], every, first).argmax(axis=1)
        correct, agree = predicted == labels, predicted == every.argmax(axis=1)
        passes = len(configs) * (2 + (len(shipped) - 2) * unsure.mean())
        print(f"adaptive views, all 6 below margin {margin:.2f}: all {correct.mean():.4f} | half A {correct[half].mean():.4f} | "
              f"half B {correct[~half].mean():.4f} | label differs from all 6 views on A {1 - agree[half].mean():.4f}, "
              f"B {1 - agree[~half].mean():.4f} | all views for {unsure.mean():.1%} | {passes:.1f} passes per face", flush=True)


def main(argv: list[str] | None = None) -> int:
    import torch

    from jobs.settings import Settings
    from models.image.inference import ImageScorer

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=settings.image_model)
    parser.add_argument("--data", type=Path, default=settings.shared_data / "fer2013" / "train_48x48.npz")
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cores", type=int, default=1, help="Spark local[N]; photos/s are divided by N")
    parser.add_argument("--repeats", type=int, default=1, help="timed Spark runs after the warm-up (median)")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-aligned", action="store_true", help="skip the aligned-crop accuracy on the validation split")
    parser.add_argument("--levers", action="store_true",
                        help="in-process only: the loaded model, then one speed/accuracy change at a time")
    parser.add_argument("--detectors", action="store_true",
                        help="in-process only: MediaPipe's detector (area / pyramid resize) against the shipped distilled one")
    parser.add_argument("--classifiers", action="store_true",
                        help="in-process only: the emotion networks in PyTorch / int8 with 2 / the shipped views")
    parser.add_argument("--view-sets", action="store_true",
                        help="aligned accuracy of test-time view sets through the int8 graphs, then stop")
    parser.add_argument("--profile", type=Path, default=None, help="write a pyinstrument HTML profile of the in-process run")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"face_photos: no FER2013 data at {args.data}", file=sys.stderr)
        return 2

    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    faces, labels = validation_faces(args.model_dir, args.data)
    started = time.perf_counter()
    photos = photo_set(faces, labels, args.photos, seed=args.seed)
    sizes = np.array([min(photo.width, photo.height) for photo in photos.photos])
    print(
        f"{args.photos} photos from {len(faces)} validation faces in {time.perf_counter() - started:.1f} s: "
        f"{int((photos.labels < 0).sum())} without a face, {sum(len(used) == 2 for used in photos.face_indices)} with two; "
        f"short side median {np.median(sizes):.0f} px, {np.mean([len(photo.data) for photo in photos.photos]) / 1024:.0f} KiB "
        f"mean; load average {os.getloadavg()[0]:.2f} (shared machine)",
        flush=True,
    )
    scorer = ImageScorer.load(args.model_dir, device="cpu")
    print(f"model {scorer.version}", flush=True)

    if not args.skip_aligned:
        started = time.perf_counter()
        probabilities, _ = scorer.classify_faces(faces)
        aligned = float((probabilities.argmax(axis=1) == labels).mean())
        print(f"aligned crops: accuracy {aligned:.4f} on {len(faces)} validation faces "
              f"({len(faces) / (time.perf_counter() - started):.0f} faces/s)", flush=True)

    if args.view_sets:
        view_sets(scorer, faces, labels, args.seed)
        return 0
    contents = [photo.data for photo in photos.photos]
    variants = (
        lever_variants(scorer) if args.levers else classifier_variants(scorer) if args.classifiers
        else detector_variants(scorer, args.model_dir) if args.detectors else [("in", scorer)]
    )
    for name, variant in variants:
        variant.score_bytes(contents[:32])  # warm-up
        profiler = None
        if args.profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.005)
            profiler.start()
        with SamplerPeakMemory() as memory:
            started, cpu_started = time.perf_counter(), time.process_time()
            scores = variant.score_bytes(contents)
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        cpu_seconds -= memory.sampler_cpu_seconds
        if profiler is not None:
            profiler.stop()
            path = args.profile.with_name(f"{args.profile.stem}-{len(name)}{args.profile.suffix}") if len(variants) > 1 else args.profile
            path.write_text(profiler.output_html(), encoding="utf-8")
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:3000])
        print_metrics("in", args.photos / seconds, args.photos / cpu_seconds,
                      photo_metrics(photos, scores), memory.peak_bytes, f" [{name}]" if len(variants) > 1 else "")
    if len(variants) > 1:
        return 0

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        (folder / "photos").mkdir()
        paths = []
        for index, photo in enumerate(photos.photos):
            path = folder / "photos" / f"photo{index:05d}.jpg"
            path.write_bytes(photo.data)
            paths.append(str(path))
        if not args.skip_cli:
            seconds, cpu_seconds, scores, peak = run_cli(folder, args.photos, args.model_dir, args.threads)
            print_metrics("cli", args.photos / seconds, args.photos / cpu_seconds, photo_metrics(photos, scores), peak,
                          " (incl. start-up and model load)")
        if not args.skip_spark:
            seconds, cpu_seconds, scores, peak, kinds = run_spark(
                [f"file://{path}" for path in paths], args.model_dir, args.cores, args.repeats
            )
            print_metrics("spark", args.photos / seconds / args.cores, args.photos / cpu_seconds, photo_metrics(photos, scores), peak,
                          f" (JVM + workers, local[{args.cores}])")
            print(f"spark CPU seconds by process: workers {kinds['workers']:.2f} ({args.photos / kinds['workers']:.1f} photos per "
                  f"worker CPU-second), JVM {kinds['jvm']:.2f}, driver {kinds['driver']:.2f}", flush=True)
    print(json.dumps({"model": scorer.version, "photos": args.photos, "seed": args.seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
