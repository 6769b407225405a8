"""Dev Ekman macro-F1 of text models, cross-fitted over several random halvings of dev, and of
the mean of their sigmoids (does a second model add anything?).

One halving moves the cross-fitted figure by about +-0.005, as much as the gap between the
BiLSTM and the teacher, so this prints the median and range over ``--seeds`` halvings.

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
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    dev = load_goemotions_split(find_goemotions_dir(args.data), "dev")
    sigmoids = {}
    for model_dir in args.model_dirs:
        scorer = TextScorer.load(model_dir, device="cpu")
        sigmoids[scorer.version] = scorer.predict_probabilities(dev.texts).label_probabilities
    if len(sigmoids) > 1:
        sigmoids["mean of " + " and ".join(sigmoids)] = np.mean(list(sigmoids.values()), axis=0)
    for name, probabilities in sigmoids.items():
        cross_fitted = [
            f1_score(dev.targets, cross_fitted_predictions(dev.targets, probabilities, seed=seed), average="macro", zero_division=0)
            for seed in range(args.seeds)
        ]
        print(
            f"{name}: tuned on dev {tuned_macro_f1(dev.targets, probabilities)[0]:.4f}; cross-fitted seed 0 "
            f"{cross_fitted[0]:.4f}, median of {args.seeds} {np.median(cross_fitted):.4f} "
            f"(range {min(cross_fitted):.4f}-{max(cross_fitted):.4f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
