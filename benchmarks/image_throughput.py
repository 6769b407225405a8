"""Throughput of the face emotion model on one CPU thread.

(a) the CNN alone on 48x48 face crops (with its mirror-averaging, as scored);
(b) decode + face detection + CNN in one process, on 640x480 JPEG photos each holding one
    real FER2013 face (upscaled), as ``ImageScorer.score_bytes`` runs them;
plus the process's peak RSS. The Spark part (c) is measured by the score job's benchmark.

Run: .venv/bin/python benchmarks/image_throughput.py [--model-dir models/weights/image]
     [--data ../shared/data/fer2013/train_48x48.npz] [--crops 4000] [--photos 300]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import resource
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from models.image.inference import ImageScorer

REPO_ROOT = Path(__file__).resolve().parents[1]


def photo_bytes(face: np.ndarray, generator: np.random.Generator) -> bytes:
    """A 640x480 colour JPEG with the face upscaled to 200 px at a random place.

    The background is blurred noise: pixel-level white noise is the Haar cascade's worst
    case (about 10x slower than a smooth scene), blurred noise is closer to real photos.
    """
    noise = generator.integers(40, 220, (480, 640), dtype=np.uint8)
    canvas = cv2.GaussianBlur(noise, (0, 0), 2.0)
    top, left = int(generator.integers(0, 280)), int(generator.integers(0, 440))
    canvas[top : top + 200, left : left + 200] = cv2.resize(face, (200, 200), interpolation=cv2.INTER_CUBIC)
    buffer = io.BytesIO()
    Image.fromarray(np.stack([canvas] * 3, axis=-1)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models" / "weights" / "image")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("EMODRIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "fer2013" / "train_48x48.npz")
    parser.add_argument("--crops", type=int, default=4000)
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    generator = np.random.default_rng(0)
    with np.load(args.data) as archive:
        faces = archive["images"][: max(args.crops, args.photos)]
    scorer = ImageScorer.load(args.model_dir, device="auto")
    print(f"model {scorer.version} on {scorer.device}; torch threads {torch.get_num_threads()}; "
          f"{platform.processor() or platform.machine()}; load average {os.getloadavg()[0]:.2f}")

    scorer.classify_faces(faces[:256])  # warm-up: first calls allocate and pick kernels
    started = time.perf_counter()
    scorer.classify_faces(faces[: args.crops])
    crop_seconds = time.perf_counter() - started
    print(f"(a) CNN on crops: {args.crops / crop_seconds:.0f} faces/s per thread ({args.crops} faces, {crop_seconds:.2f} s)")

    photos = [photo_bytes(faces[index], generator) for index in range(args.photos)]
    scorer.score_bytes(photos[:16])
    started = time.perf_counter()
    scores = scorer.score_bytes(photos, batch_size=128)
    photo_seconds = time.perf_counter() - started
    found = int((scores["image_status"] == "ok").sum())
    print(f"(b) decode+detect+classify: {args.photos / photo_seconds:.1f} photos/s per thread "
          f"({args.photos} 640x480 JPEGs, {photo_seconds:.2f} s; face found in {found}/{args.photos})")
    peak_megabytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_megabytes:.0f} MiB")


if __name__ == "__main__":
    main()
