"""Multi-label metrics for the text model: thresholds, F1, ROC-AUC, top-label confusion.

Numpy in, plain Python (JSON-ready) out; nothing here knows about torch or files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

THRESHOLD_GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)


def predict_label_sets(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Labels whose probability reaches their threshold; when none does, the label nearest its
    threshold (largest probability / threshold; the most probable one where thresholds are
    infinite).

    Every GoEmotions comment carries at least one label, so an empty prediction is never
    right: falling back to one label costs nothing and often helps. Nearest its threshold
    rather than most probable, so the fallback is the top label of ``text_probs``
    (:func:`models.text.inference.decision_distribution`); cross-fitted on dev halves it
    scored at least as well as the most probable label on 5 of 5 halvings (0.6391 against
    0.6382 median for the shipped BiLSTM; 0.3 % of dev posts fall back).

    Args:
        probabilities: (examples, labels) independent sigmoid probabilities.
        thresholds: (labels,) per-label thresholds.

    Returns:
        (examples, labels) bool predictions.
    """
    predicted = probabilities >= thresholds[None, :]
    empty = ~predicted.any(axis=1)
    scale = np.where(np.isfinite(thresholds), thresholds, 1.0)
    predicted[empty, (probabilities[empty] / scale[None, :]).argmax(axis=1)] = True
    return predicted


# F1 against the threshold is jagged where a label has a few hundred positives: its highest
# point is often a spike of a handful of examples that other data does not share. The curve is
# averaged over +-0.05 (5 grid steps each side) before its maximum is taken, which picks the
# middle of a good region instead. Measured on dev halves for four text models (thresholds
# tuned on one half, scored on the other, 20 fresh halvings): cross-fitted macro-F1 +0.0016 to
# +0.0031, better in 15-17 of 20 (benchmarks/RESULTS.md, "Threshold tuning").
THRESHOLD_SMOOTHING_STEPS = 5


def tune_thresholds(
    targets: np.ndarray,
    probabilities: np.ndarray,
    grid: np.ndarray = THRESHOLD_GRID,
    smoothing_steps: int = THRESHOLD_SMOOTHING_STEPS,
) -> np.ndarray:
    """Per label, the threshold from ``grid`` with the best F1 on these examples, the F1 curve
    first averaged over ``smoothing_steps`` grid points each side (0: the raw maximum).

    Args:
        targets: (examples, labels) bool gold labels.
        probabilities: (examples, labels) sigmoid probabilities.
        grid: candidate thresholds, increasing and evenly spaced.
        smoothing_steps: half-width of the moving average, in grid steps (the ends are padded
            with the end values, so a maximum at the edge of the grid can still be chosen).

    Returns:
        (labels,) float thresholds.
    """
    if smoothing_steps < 0:
        raise ValueError(f"smoothing_steps must be >= 0, got {smoothing_steps}")
    targets = targets.astype(bool)
    predicted = probabilities[:, :, None] >= grid[None, None, :]  # (examples, labels, grid)
    true_positive = (predicted & targets[:, :, None]).sum(axis=0)
    predicted_positive = predicted.sum(axis=0)
    actual_positive = targets.sum(axis=0)[:, None]
    f1 = 2 * true_positive / np.maximum(predicted_positive + actual_positive, 1)
    if smoothing_steps:
        padded = np.pad(f1, ((0, 0), (smoothing_steps, smoothing_steps)), mode="edge")
        cumulative = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
        width = 2 * smoothing_steps + 1
        f1 = (cumulative[:, width:] - cumulative[:, :-width]) / width
    return grid[f1.argmax(axis=1)].astype(float)


def tuned_macro_f1(targets: np.ndarray, probabilities: np.ndarray) -> tuple[float, np.ndarray]:
    """Macro-F1 with per-label thresholds tuned on these same rows, and those thresholds.

    Optimistic as a final figure (see :func:`cross_fitted_predictions`), fine for picking an
    epoch.
    """
    targets = targets.astype(bool)
    thresholds = tune_thresholds(targets, probabilities)
    predicted = predict_label_sets(probabilities, thresholds)
    true_positive = (predicted & targets).sum(axis=0)
    f1 = 2 * true_positive / np.maximum(predicted.sum(axis=0) + targets.sum(axis=0), 1)
    return float(f1.mean()), thresholds


def cross_fitted_predictions(
    targets: np.ndarray, probabilities: np.ndarray, *, folds: int = 2, seed: int = 0
) -> np.ndarray:
    """Label sets where each example's thresholds were tuned on the other folds only.

    F1 on these predictions estimates what thresholds tuned on dev will do on unseen data,
    without the optimism of tuning and scoring on the same rows.
    """
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    fold_of = np.random.default_rng(seed).permutation(len(targets)) % folds
    predicted = np.zeros_like(targets, dtype=bool)
    for fold in range(folds):
        held_out = fold_of == fold
        thresholds = tune_thresholds(targets[~held_out], probabilities[~held_out])
        predicted[held_out] = predict_label_sets(probabilities[held_out], thresholds)
    return predicted


def multilabel_report(
    targets: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    label_names: Sequence[str],
    primary_labels: np.ndarray | None = None,
) -> dict[str, object]:
    """Everything ``emodrift eval text`` prints, for one label set.

    Args:
        targets: (examples, labels) bool gold labels.
        probabilities: (examples, labels) sigmoid probabilities.
        thresholds: (labels,) thresholds that turn probabilities into label sets.
        label_names: the labels' names in column order.
        primary_labels: (examples,) the first gold label of each example (the TSV's first
            id); defaults to the lowest-numbered gold label.

    Returns:
        accuracy (the top predicted label is one of the gold labels), subset_accuracy (the
        predicted set equals the gold set), macro_f1 / micro_f1 (label sets),
        macro_f1_cross_fitted (thresholds tuned on the other half of the rows), macro_roc_auc,
        per_class {name: precision, recall, f1, support, roc_auc, threshold} and
        confusion_matrix (rows gold top label, columns predicted top label; for a multi-label
        row the gold top label is the predicted one when that one is gold, else its primary).
    """
    targets = targets.astype(bool)
    if targets.shape != probabilities.shape or targets.shape[1] != len(label_names):
        raise ValueError(
            f"targets {targets.shape}, probabilities {probabilities.shape} and {len(label_names)} label names disagree"
        )
    predicted = predict_label_sets(probabilities, thresholds)
    precision, recall, f1, support = precision_recall_fscore_support(targets, predicted, average=None, zero_division=0)
    _, _, micro_f1, _ = precision_recall_fscore_support(targets, predicted, average="micro", zero_division=0)
    cross_fitted = cross_fitted_predictions(targets, probabilities)
    _, _, cross_fitted_f1, _ = precision_recall_fscore_support(targets, cross_fitted, average=None, zero_division=0)

    top = probabilities.argmax(axis=1)
    rows = np.arange(len(targets))
    top_is_gold = targets[rows, top]
    if primary_labels is None:
        primary_labels = targets.argmax(axis=1)
    gold_top = np.where(top_is_gold, top, primary_labels)
    confusion = np.zeros((len(label_names), len(label_names)), dtype=int)
    np.add.at(confusion, (gold_top, top), 1)

    roc_auc: list[float | None] = []
    for column in range(len(label_names)):
        positives = int(targets[:, column].sum())
        if 0 < positives < len(targets):
            roc_auc.append(float(roc_auc_score(targets[:, column], probabilities[:, column])))
        else:
            roc_auc.append(None)  # undefined with a single class present
    defined_auc = [value for value in roc_auc if value is not None]

    return {
        "examples": int(len(targets)),
        "accuracy": float(top_is_gold.mean()),
        "subset_accuracy": float((predicted == targets).all(axis=1).mean()),
        "macro_f1": float(f1.mean()),
        "micro_f1": float(micro_f1),
        "macro_f1_cross_fitted": float(cross_fitted_f1.mean()),
        "macro_roc_auc": float(np.mean(defined_auc)) if defined_auc else None,
        "per_class": {
            name: {
                "precision": float(precision[column]),
                "recall": float(recall[column]),
                "f1": float(f1[column]),
                "support": int(support[column]),
                "roc_auc": roc_auc[column],
                "threshold": float(thresholds[column]),
            }
            for column, name in enumerate(label_names)
        },
        "confusion_matrix": {
            "labels": list(label_names),
            "rows": "gold top label",
            "columns": "predicted top label",
            "matrix": confusion.tolist(),
        },
    }
