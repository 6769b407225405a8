"""Re-tune a text model folder's per-label thresholds on GoEmotions dev and write them to its config.json.

Run by hand when the tuning rule (``models.text.metrics.tune_thresholds``) changes, so a model
trained under the old rule decides as a new one would; training already tunes them itself:

  .venv/bin/python scripts/tune_text_thresholds.py models/weights/text [--data ../shared/data/goemotions]

The thresholds are what turns the model's sigmoids into ``text_labels``; the weights, and so
the model version, do not change. Prints, for the Ekman labels, the old and new thresholds and
the dev macro-F1 of each set (tuned on dev, optimistic) and cross-fitted on five random halvings
of dev (thresholds tuned on one half, scored on the other: what to expect on unseen posts).
Writes ``config.json`` only; ``metrics.json`` keeps the training run's record.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from models.text.inference import TextScorer  # noqa: E402
from models.text.metrics import cross_fitted_predictions, predict_label_sets, tune_thresholds  # noqa: E402
from models.text.training import find_goemotions_dir, load_goemotions_split  # noqa: E402

HALVINGS = 5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="text model folder (BiLSTM or teacher)")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "goemotions",
                        help="GoEmotions folder or its parent")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write config.json")
    args = parser.parse_args(argv)

    config_path = args.model_dir / "config.json"
    if not config_path.is_file():
        parser.error(f"{config_path} does not exist: pass a text model folder (with config.json)")
    torch.set_num_threads(1)
    dev = load_goemotions_split(find_goemotions_dir(args.data), "dev")
    scorer = TextScorer.load(args.model_dir, device="cpu")
    outputs = scorer.predict_probabilities(dev.texts)
    config = json.loads(config_path.read_text())
    old = np.asarray(config.get("thresholds") or [], dtype=np.float64)
    new = tune_thresholds(dev.targets, outputs.label_probabilities)
    print(f"{scorer.version}: {len(dev.texts):,} dev comments")
    for name, thresholds in (("old", old), ("new", new)):
        if thresholds.size == 0:
            print(f"  {name} thresholds: none")
            continue
        tuned = f1_score(dev.targets, predict_label_sets(outputs.label_probabilities, thresholds), average="macro", zero_division=0)
        print(f"  {name} thresholds {np.round(thresholds, 2).tolist()}: dev macro-F1 {tuned:.4f}")
    cross_fitted = [
        f1_score(dev.targets, cross_fitted_predictions(dev.targets, outputs.label_probabilities, seed=seed), average="macro", zero_division=0)
        for seed in range(HALVINGS)
    ]
    print(f"  cross-fitted with the current rule, median of {HALVINGS} halvings {np.median(cross_fitted):.4f} "
          f"(range {min(cross_fitted):.4f}-{max(cross_fitted):.4f})")
    config["thresholds"] = [float(value) for value in new]
    if outputs.fine_label_probabilities is not None and dev.fine_targets.shape[1] == outputs.fine_label_probabilities.shape[1]:
        config["fine_thresholds"] = [float(value) for value in tune_thresholds(dev.fine_targets, outputs.fine_label_probabilities)]
    if args.dry_run:
        return 0
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {config_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
