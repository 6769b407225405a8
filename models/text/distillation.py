"""Distillation targets: the teacher's probabilities blended with the gold labels.

The student (the BiLSTM) trains on every training comment and on noisy variants of some
(:mod:`models.text.augment`). For a comment, its target is
``weight * teacher + (1 - weight) * gold``: the teacher's soft probabilities carry what it
learnt about labels that co-occur and comments that are ambiguous, the gold labels keep the
student anchored where the teacher is wrong. A variant's target is the teacher's alone: an
edit may change the emotion, so the source comment's gold labels may no longer hold.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from models.text.training import GoEmotionsSplit


@dataclasses.dataclass(frozen=True)
class DistillationSet:
    """The student's training rows (comments, then variants) and their soft targets.

    Attributes:
        split: texts and gold labels; a variant carries its source comment's gold labels
            (kept for reference, not used in the loss).
        targets: (rows, labels) float soft targets for the coarse head.
        fine_targets: (rows, fine labels) float soft targets, or None without a fine head.
        variants: how many of the rows (at the end) are variants.
    """

    split: GoEmotionsSplit
    targets: np.ndarray
    fine_targets: np.ndarray | None
    variants: int


def blend(gold: np.ndarray, teacher: np.ndarray, weight: float) -> np.ndarray:
    """``weight * teacher + (1 - weight) * gold`` as float32 (gold may be bool)."""
    if gold.shape != teacher.shape:
        raise ValueError(f"gold {gold.shape} and teacher {teacher.shape} probabilities differ in shape")
    return (weight * teacher + (1.0 - weight) * gold.astype(np.float32)).astype(np.float32)


def distillation_set(
    train: GoEmotionsSplit,
    sources: np.ndarray,
    variants: list[str],
    teacher_probabilities: np.ndarray,
    teacher_fine_probabilities: np.ndarray | None,
    *,
    weight: float,
) -> DistillationSet:
    """Build the student's rows and targets from the teacher's outputs.

    Args:
        train: the training comments with gold labels.
        sources: (variants,) the comment each variant was made from.
        variants: the variant texts.
        teacher_probabilities: (comments + variants, labels) teacher sigmoids, comments first.
        teacher_fine_probabilities: the same for the fine head, or None.
        weight: the teacher's share in a comment's target, in [0, 1].

    Returns:
        A :class:`DistillationSet`, comments first, then variants.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    comments = len(train.texts)
    rows = comments + len(variants)
    if len(sources) != len(variants) or len(teacher_probabilities) != rows:
        raise ValueError(
            f"{len(variants)} variants with {len(sources)} sources and {len(teacher_probabilities)} teacher rows "
            f"for {comments} comments do not line up"
        )
    targets = np.concatenate([blend(train.targets, teacher_probabilities[:comments], weight), teacher_probabilities[comments:]])
    fine_targets = None
    if teacher_fine_probabilities is not None and train.fine_targets.shape[1]:
        fine_targets = np.concatenate(
            [blend(train.fine_targets, teacher_fine_probabilities[:comments], weight), teacher_fine_probabilities[comments:]]
        )
    split = GoEmotionsSplit(
        texts=list(train.texts) + list(variants),
        targets=np.concatenate([train.targets, train.targets[sources]]),
        primary=np.concatenate([train.primary, train.primary[sources]]),
        fine_targets=np.concatenate([train.fine_targets, train.fine_targets[sources]]),
        fine_label_names=train.fine_label_names,
    )
    return DistillationSet(split, targets.astype(np.float32), None if fine_targets is None else fine_targets.astype(np.float32), len(variants))


def first_rows(split: GoEmotionsSplit, count: int | None) -> GoEmotionsSplit:
    """The first ``count`` rows of a split (all of it for None): smoke runs."""
    if count is None or count >= len(split.texts):
        return split
    return GoEmotionsSplit(
        split.texts[:count], split.targets[:count], split.primary[:count], split.fine_targets[:count], split.fine_label_names
    )


def average_teachers(
    label_probabilities: list[np.ndarray], fine_label_probabilities: list[np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The mean of several teachers' sigmoids (an ensemble teacher), both heads.

    Teachers that err differently average to a better teacher than either (the MiniLM teacher
    and the BiLSTM: see benchmarks/RESULTS.md). The fine head is averaged over the teachers
    that have one; None when none has.

    Args:
        label_probabilities: per teacher, (rows, labels) sigmoids, same rows and label order.
        fine_label_probabilities: per teacher, (rows, fine labels) sigmoids or None.

    Returns:
        (rows, labels) and (rows, fine labels) or None, float32.
    """
    if not label_probabilities or len(label_probabilities) != len(fine_label_probabilities):
        raise ValueError(
            f"need one fine entry per teacher and at least one teacher, got {len(label_probabilities)} and "
            f"{len(fine_label_probabilities)}"
        )
    shapes = {array.shape for array in label_probabilities}
    fine = [array for array in fine_label_probabilities if array is not None]
    if len(shapes) != 1 or len({array.shape for array in fine}) > 1:
        raise ValueError(f"the teachers' probabilities differ in shape: {sorted(shapes)}, {[array.shape for array in fine]}")
    labels = np.mean(np.stack(label_probabilities), axis=0).astype(np.float32)
    return labels, (np.mean(np.stack(fine), axis=0).astype(np.float32) if fine else None)
