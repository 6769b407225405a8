"""Distillation targets: comments blend teacher and gold, variants take the teacher's alone."""

from __future__ import annotations

import numpy as np
import pytest

from models.text.distillation import average_teachers, blend, distillation_set, first_rows
from models.text.training import GoEmotionsSplit


def small_split() -> GoEmotionsSplit:
    targets = np.array([[True, False], [False, True], [True, True]])
    fine = np.array([[True, False, False], [False, False, True], [False, True, False]])
    return GoEmotionsSplit(["a b", "c d", "e f"], targets, np.array([0, 1, 0]), fine, ("x", "y", "z"))


def test_blend_is_a_weighted_mean() -> None:
    gold = np.array([[True, False]])
    teacher = np.array([[0.6, 0.2]], dtype=np.float32)
    np.testing.assert_allclose(blend(gold, teacher, 0.25), [[0.25 * 0.6 + 0.75, 0.25 * 0.2]])
    with pytest.raises(ValueError, match="shape"):
        blend(gold, teacher[:, :1], 0.5)


def test_comments_blend_and_variants_take_the_teacher() -> None:
    train = small_split()
    teacher = np.array([[0.9, 0.1], [0.2, 0.7], [0.5, 0.5], [0.05, 0.95]], dtype=np.float32)
    teacher_fine = np.full((4, 3), 0.3, dtype=np.float32)
    built = distillation_set(train, np.array([0]), ["A B!!"], teacher, teacher_fine, weight=0.5)
    assert built.split.texts == ["a b", "c d", "e f", "A B!!"] and built.variants == 1
    np.testing.assert_allclose(built.targets[:3], 0.5 * teacher[:3] + 0.5 * train.targets)
    np.testing.assert_allclose(built.targets[3], teacher[3])  # not the source's gold [1, 0]
    assert built.split.targets[3].tolist() == train.targets[0].tolist()  # gold kept for reference
    assert built.fine_targets is not None and built.fine_targets.shape == (4, 3)
    np.testing.assert_allclose(built.fine_targets[3], teacher_fine[3])
    with pytest.raises(ValueError, match="line up"):
        distillation_set(train, np.array([0]), ["v"], teacher[:3], None, weight=0.5)
    with pytest.raises(ValueError, match="weight"):
        distillation_set(train, np.array([0]), ["v"], teacher, None, weight=1.5)


def test_first_rows() -> None:
    train = small_split()
    assert first_rows(train, None) is train
    cut = first_rows(train, 2)
    assert cut.texts == ["a b", "c d"] and cut.fine_targets.shape == (2, 3)


def test_average_teachers_means_both_heads_and_skips_missing_fine_heads() -> None:
    first = np.array([[0.9, 0.1]], dtype=np.float32)
    second = np.array([[0.5, 0.3]], dtype=np.float32)
    fine = np.array([[0.2, 0.4, 0.6]], dtype=np.float32)
    labels, fine_mean = average_teachers([first, second], [fine, None])
    np.testing.assert_allclose(labels, [[0.7, 0.2]])
    assert fine_mean is not None
    np.testing.assert_allclose(fine_mean, fine)  # only the first teacher has a fine head
    labels, fine_mean = average_teachers([first], [None])
    assert fine_mean is None and labels.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        average_teachers([first, second[:, :1]], [None, None])
    with pytest.raises(ValueError, match="at least one"):
        average_teachers([], [])
