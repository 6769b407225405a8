"""Fusion measured: text only, face only and fused on a paired set from the shared dev splits.

Pairs: every single-label text of the GoEmotions Ekman **dev** split is paired with a face of
the same label from the face model's held-out FER **validation** split (the faces it never
trained on; ``models.image.inference.training_split``), both drawn without replacement in a
seeded order; per label, as many pairs as the scarcer side has. Texts go through the text
model's probabilities (scaled by its thresholds and normalised, as ``TextScorer.score`` does); faces through the
face ensemble's ``classify_faces`` on the 48x48 crops (as ``emodrift eval image`` measures
them); the pair is fused by :func:`models.fusion.fuse`, the pipeline's function, at the
pipeline's ``text_weight`` and at a weight cross-fitted on the other half of the pairs.

Run: .venv/bin/python benchmarks/fusion_quality.py [--seed 0] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from jobs.sample.pools import load_face_pool, load_text_pool  # noqa: E402
from models.fusion import fuse  # noqa: E402
from models.image.training import classification_metrics  # noqa: E402
from models.labels import LABEL_INDEX, LABELS  # noqa: E402

SHARED_DATA = Path(os.environ.get("EMODRIFT_SHARED_DATA", "/work/shared/data"))
WEIGHT_GRID = np.round(np.arange(0.1, 0.95, 0.1), 2)
BOOTSTRAP_SAMPLES = 1000


def paired_set(text_path: Path, face_path: Path, image_model: Path, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(texts, faces (N, 48, 48), labels (N,)) with one text and one face of the same label per row."""
    texts_by_label = load_text_pool(text_path).texts
    faces = load_face_pool(face_path, image_model)
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    face_rows: list[np.ndarray] = []
    labels: list[int] = []
    for label in LABELS:
        count = min(len(texts_by_label[label]), len(faces.indices[label]))
        text_order = rng.permutation(len(texts_by_label[label]))[:count]
        face_order = rng.permutation(len(faces.indices[label]))[:count]
        texts += [texts_by_label[label][index][1] for index in text_order]
        face_rows.append(faces.faces[label][face_order])
        labels += [LABEL_INDEX[label]] * count
    return texts, np.concatenate(face_rows), np.asarray(labels)


def fuse_all(text_probs: np.ndarray, face_probs: np.ndarray, text_weight: float) -> np.ndarray:
    return np.stack([fuse(text, face, text_weight=text_weight) for text, face in zip(text_probs, face_probs)])


def macro_f1(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(classification_metrics(labels, probabilities)["macro_f1"])


def cross_fitted(labels: np.ndarray, text_probs: np.ndarray, face_probs: np.ndarray, seed: int) -> tuple[np.ndarray, list[float]]:
    """Fused probabilities where each half uses the text weight that maximised macro-F1 on the other half."""
    halves = np.random.default_rng(seed + 1).permutation(len(labels)) % 2
    fused = np.zeros_like(text_probs)
    chosen: list[float] = []
    for half in (0, 1):
        tune, apply = halves != half, halves == half
        best = max(WEIGHT_GRID, key=lambda weight: macro_f1(labels[tune], fuse_all(text_probs[tune], face_probs[tune], weight)))
        chosen.append(float(best))
        fused[apply] = fuse_all(text_probs[apply], face_probs[apply], best)
    return fused, chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-pool", type=Path, default=SHARED_DATA / "goemotions" / "ekman" / "dev.tsv")
    parser.add_argument("--face-pool", type=Path, default=SHARED_DATA / "fer2013" / "train_48x48.npz")
    parser.add_argument("--text-model", type=Path, default=REPOSITORY / "models" / "weights" / "text")
    parser.add_argument("--image-model", type=Path, default=REPOSITORY / "models" / "weights" / "image")
    parser.add_argument("--text-weight", type=float, default=0.5, help="the pipeline's (jobs.score.ScoringOptions)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from models.image.inference import load_image_scorer
    from models.text.inference import decision_distribution, load_text_scorer

    texts, faces, labels = paired_set(args.text_pool, args.face_pool, args.image_model, args.seed)
    text_scorer = load_text_scorer(args.text_model, "cpu")
    outputs = text_scorer.predict_probabilities(texts)
    text_probs = decision_distribution(outputs.label_probabilities, text_scorer.config.thresholds)  # as TextScorer.score
    face_probs, _ = load_image_scorer(args.image_model, "cpu").classify_faces(faces)
    face_probs = face_probs.astype(np.float64)
    fused_default = fuse_all(text_probs, face_probs, args.text_weight)
    fused_tuned, weights = cross_fitted(labels, text_probs, face_probs, args.seed)

    print(f"paired set: {len(labels)} pairs ({', '.join(f'{label} {int((labels == LABEL_INDEX[label]).sum())}' for label in LABELS)})")
    fused_name = f"fused (product of experts, text_weight {args.text_weight})"
    rows = {
        "text only": text_probs,
        "face only": face_probs,
        fused_name: fused_default,
        f"fused, text_weight cross-fitted on halves ({weights[0]}, {weights[1]})": fused_tuned,
    }
    metrics = {name: classification_metrics(labels, probs) for name, probs in rows.items()}
    print(f"{'input':<66} {'accuracy':>9} {'macro-F1':>9}")
    for name, values in metrics.items():
        print(f"{name:<66} {values['accuracy']:>9.3f} {values['macro_f1']:>9.3f}")
    # paired bootstrap: how sure is the gain of the pipeline's fusion over the better single input?
    best_single = max(("text only", "face only"), key=lambda name: metrics[name]["macro_f1"])
    rng = np.random.default_rng(args.seed + 2)
    gains = []
    for _ in range(BOOTSTRAP_SAMPLES):
        sample = rng.integers(0, len(labels), size=len(labels))
        gains.append(macro_f1(labels[sample], fused_default[sample]) - macro_f1(labels[sample], rows[best_single][sample]))
    low, high = np.percentile(gains, [2.5, 97.5])
    print(f"macro-F1 gain of fused (text_weight {args.text_weight}) over {best_single}: "
          f"{metrics[fused_name]['macro_f1'] - metrics[best_single]['macro_f1']:+.3f} "
          f"(95% paired bootstrap interval {low:+.3f} .. {high:+.3f}, {BOOTSTRAP_SAMPLES} resamples)")


if __name__ == "__main__":
    main()
