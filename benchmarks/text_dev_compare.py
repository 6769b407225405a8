"""Dev Ekman macro-F1 of text models, cross-fitted over several random halvings of dev, and of
the mean of their sigmoids (does a second model add anything?).

One halving moves the cross-fitted figure by about +-0.005, as much as the gap between the
BiLSTM and the teacher, so this prints the median and range over ``--seeds`` halvings. Then,
for every model after the first, the paired difference to the first: per halving (same halves
for both), and a 95 % interval from resampling dev comments (the same resample for both models,
seed-0 halving), which also covers the noise of having only 5,426 dev comments.

    .venv/bin/python benchmarks/text_dev_compare.py --data ../shared/data/goemotions \\
        models/weights/text models/weights/text_teacher
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

from models.text.inference import TextScorer
from models.text.metrics import cross_fitted_predictions, tuned_macro_f1
from models.text.training import find_goemotions_dir, load_goemotions_split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dirs", type=Path, nargs="+", help="text model folders (BiLSTM or teacher)")
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions folder or its parent")
    parser.add_argument("--seeds", type=int, default=5, help="random halvings of dev")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples of dev for the paired interval")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    dev = load_goemotions_split(find_goemotions_dir(args.data), "dev")
    sigmoids = {}
    for model_dir in args.model_dirs:
        scorer = TextScorer.load(model_dir, device="cpu")
        sigmoids[scorer.version] = scorer.predict_probabilities(dev.texts).label_probabilities
    if len(sigmoids) > 1:
        sigmoids["mean of " + " and ".join(sigmoids)] = np.mean(list(sigmoids.values()), axis=0)
    predictions = {
        name: [cross_fitted_predictions(dev.targets, probabilities, seed=seed) for seed in range(args.seeds)]
        for name, probabilities in sigmoids.items()
    }
    scores = {
        name: [f1_score(dev.targets, predicted, average="macro", zero_division=0) for predicted in predicted_sets]
        for name, predicted_sets in predictions.items()
    }
    for name, probabilities in sigmoids.items():
        cross_fitted = scores[name]
        print(
            f"{name}: tuned on dev {tuned_macro_f1(dev.targets, probabilities)[0]:.4f}; cross-fitted seed 0 "
            f"{cross_fitted[0]:.4f}, median of {args.seeds} {np.median(cross_fitted):.4f} "
            f"(range {min(cross_fitted):.4f}-{max(cross_fitted):.4f})"
        )
    baseline, *others = list(sigmoids)
    rows = np.random.default_rng(0).integers(0, len(dev.texts), size=(args.resamples, len(dev.texts)))
    for name in others:
        per_halving = np.array(scores[name]) - np.array(scores[baseline])
        resampled = macro_f1_rows(dev.targets, predictions[name][0], rows) - macro_f1_rows(dev.targets, predictions[baseline][0], rows)
        low, high = np.percentile(resampled, [2.5, 97.5])
        print(
            f"{name} minus {baseline}: per halving median {np.median(per_halving):+.4f} "
            f"(range {per_halving.min():+.4f} to {per_halving.max():+.4f}, better in {int((per_halving > 0).sum())} of "
            f"{args.seeds}); resampled dev comments, seed-0 halving: 95 % interval {low:+.4f} to {high:+.4f} "
            f"(better in {(resampled > 0).mean():.1%} of {args.resamples})"
        )
    return 0


def macro_f1_rows(targets: np.ndarray, predicted: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Macro-F1 (absent labels count 0, as ``zero_division=0``) of each resample's rows (resamples, rows)."""
    hits = targets & predicted
    true_positive = np.stack([hits[sample].sum(axis=0) for sample in rows]).astype(float)
    predicted_count = np.stack([predicted[sample].sum(axis=0) for sample in rows])
    actual_count = np.stack([targets[sample].sum(axis=0) for sample in rows])
    denominator = predicted_count + actual_count
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return f1.mean(axis=1)


if __name__ == "__main__":
    raise SystemExit(main())
