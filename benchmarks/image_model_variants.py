"""Validation accuracy of face-model checkpoints, with test-time shifts and as an ensemble.

For each checkpoint folder: accuracy and macro-F1 on the stratified validation split (the
same rule as training: ``stratified_split(labels, 0.1, seed 0)``) for the centre crop and
its mirror (what the pipeline scores), and for the centre plus four crops moved diagonally
by 1, 2 and 3 pixels (each with its mirror: 10 views). With several folders it also scores
the average of their probabilities (centre and mirror). This is how the shipped model was
chosen and why it scores with 2-pixel shifts (``test_time_shift`` in its config.json; see
benchmarks/RESULTS.md).

Run: .venv/bin/python benchmarks/image_model_variants.py models/weights/image [OTHER_MODEL_DIR ...]
     [--data ../shared/data/fer2013/train_48x48.npz] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from models.image.inference import load_image_network
from models.image.training import classification_metrics, load_face_dataset, predict_probabilities, stratified_split

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("EMODRIFT_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "fer2013" / "train_48x48.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dirs", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"no FER2013 training file at {args.data}; pass --data", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    images, labels = load_face_dataset(args.data)
    _, validation = stratified_split(labels, 0.1, 0)
    faces, truth = images[validation], labels[validation]
    centre: list[np.ndarray] = []
    for model_dir in args.model_dirs:
        network, config, _ = load_image_network(model_dir, "cpu")
        for shift in (0, 1, 2, 3):
            probabilities, _ = predict_probabilities(
                network, faces, crop_size=config.crop_size, pixel_mean=config.pixel_mean, pixel_std=config.pixel_std,
                device=torch.device("cpu"), batch_size=512, test_time_shift=shift,
            )
            if shift == 0:
                centre.append(probabilities)
            metrics = classification_metrics(truth, probabilities)
            print(f"{model_dir} shift {shift}: accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}", flush=True)
    if len(centre) > 1:
        metrics = classification_metrics(truth, np.mean(centre, axis=0))
        print(f"average of {len(centre)}: accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
