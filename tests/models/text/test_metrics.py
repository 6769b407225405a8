"""Threshold tuning and the multi-label report, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from models.text.metrics import cross_fitted_predictions, multilabel_report, predict_label_sets, tune_thresholds, tuned_macro_f1


def test_predict_label_sets_falls_back_to_top_label() -> None:
    probabilities = np.array([[0.9, 0.6, 0.1], [0.2, 0.3, 0.1]])
    predicted = predict_label_sets(probabilities, np.array([0.5, 0.5, 0.5]))
    assert predicted.tolist() == [[True, True, False], [False, True, False]]
    # the fallback is the label nearest its own threshold: 0.1 of a 0.12 cut beats 0.3 of a 0.5
    nearest = predict_label_sets(np.array([[0.2, 0.3, 0.1]]), np.array([0.5, 0.5, 0.12]))
    assert nearest.tolist() == [[False, False, True]]
    # infinite thresholds (a model without tuned ones): the most probable label
    assert predict_label_sets(np.array([[0.2, 0.3, 0.1]]), np.full(3, np.inf)).tolist() == [[False, True, False]]


def test_tune_thresholds_recovers_a_planted_cut() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=(2000, 2))
    # Label 0 is exactly "probability >= 0.7", label 1 exactly ">= 0.25".
    targets = np.stack([probabilities[:, 0] >= 0.7, probabilities[:, 1] >= 0.25], axis=1)
    thresholds = tune_thresholds(targets, probabilities)
    assert thresholds[0] == pytest.approx(0.7, abs=0.011)
    assert thresholds[1] == pytest.approx(0.25, abs=0.011)


def test_report_matches_hand_computed_values() -> None:
    labels = ("a", "b", "c")
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=bool)
    probabilities = np.array(
        [
            [0.9, 0.1, 0.2],  # predicts {a}: right
            [0.8, 0.3, 0.1],  # predicts {a}: wrong (gold b)
            [0.1, 0.2, 0.7],  # predicts {c}: right
            [0.6, 0.7, 0.1],  # predicts {a, b}: right
        ]
    )
    report = multilabel_report(targets, probabilities, np.array([0.5, 0.5, 0.5]), labels)
    # a: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 0.8; b: tp 1, fp 0, fn 1 -> F1 2/3; c: F1 1.
    assert report["per_class"]["a"]["f1"] == pytest.approx(0.8)
    assert report["per_class"]["b"]["f1"] == pytest.approx(2 / 3)
    assert report["per_class"]["c"]["f1"] == pytest.approx(1.0)
    assert report["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 1.0) / 3)
    # micro: tp 4, fp 1, fn 1 -> 0.8
    assert report["micro_f1"] == pytest.approx(0.8)
    # top label a, a, c, b -> gold? yes, no, yes, yes
    assert report["accuracy"] == pytest.approx(0.75)
    assert report["subset_accuracy"] == pytest.approx(0.75)
    assert report["confusion_matrix"]["matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert report["per_class"]["c"]["roc_auc"] == pytest.approx(1.0)
    assert set(report) >= {"accuracy", "macro_f1", "micro_f1", "per_class", "confusion_matrix", "macro_roc_auc"}


def test_cross_fitted_predictions_cover_every_row() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=(100, 3))
    targets = probabilities > 0.5
    predicted = cross_fitted_predictions(targets, probabilities)
    assert predicted.shape == targets.shape
    assert predicted.any(axis=1).all()
    with pytest.raises(ValueError, match="folds"):
        cross_fitted_predictions(targets, probabilities, folds=1)


def test_report_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="disagree"):
        multilabel_report(np.zeros((2, 2), dtype=bool), np.zeros((2, 3)), np.zeros(3), ("a", "b", "c"))


def test_tuned_macro_f1_agrees_with_the_report() -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=(300, 4))
    targets = (probabilities + rng.normal(scale=0.3, size=probabilities.shape)) > 0.8
    targets[~targets.any(axis=1), 0] = True
    score, thresholds = tuned_macro_f1(targets, probabilities)
    report = multilabel_report(targets, probabilities, thresholds, ("a", "b", "c", "d"))
    assert score == pytest.approx(report["macro_f1"])
    assert 0.0 < score < 1.0


def test_tune_thresholds_takes_the_best_of_the_averaged_f1_curve() -> None:
    rng = np.random.default_rng(1)
    targets = rng.uniform(size=(300, 3)) < 0.2
    probabilities = np.clip(0.35 * targets + rng.uniform(size=(300, 3)) * 0.7, 0, 1)
    grid = np.round(np.arange(0.02, 0.96, 0.01), 2)
    # F1 at every grid point by hand, then a moving average over 5 points each side (ends padded)
    f1 = np.array([[2 * np.sum((probabilities[:, label] >= cut) & targets[:, label])
                    / max(np.sum(probabilities[:, label] >= cut) + np.sum(targets[:, label]), 1) for cut in grid]
                   for label in range(3)])
    averaged = np.array([np.convolve(np.pad(row, 5, mode="edge"), np.ones(11) / 11, mode="valid") for row in f1])
    assert np.array_equal(tune_thresholds(targets, probabilities), grid[averaged.argmax(axis=1)])
    assert np.array_equal(tune_thresholds(targets, probabilities, smoothing_steps=0), grid[f1.argmax(axis=1)])
    with pytest.raises(ValueError, match="smoothing_steps"):
        tune_thresholds(targets, probabilities, smoothing_steps=-1)
