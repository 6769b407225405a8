"""A hand-written check set outside GoEmotions' style, and how well a model agrees with it.

The set (``benchmarks/text_robustness.tsv``: style, expected label, text) holds short
posts in the styles of other emotion corpora: first-person "i feel ..." sentences, tweets
with hashtags, mentions and emoji, all-caps shouting, negation and sarcasm markers. Each
carries the one Ekman label a reader would give it. It is small and was written before
any model scored it; it is a regression check, not a benchmark of record.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from models.labels import LABELS


@dataclasses.dataclass(frozen=True)
class CheckPost:
    """One post of the check set."""

    style: str
    expected: str
    text: str


def read_check_set(path: Path) -> list[CheckPost]:
    """Read the TSV (header ``style, expected, text``); unknown labels are an error."""
    with open(path, encoding="utf-8", newline="") as handle:
        posts = [CheckPost(row["style"], row["expected"], row["text"]) for row in csv.DictReader(handle, delimiter="\t")]
    unknown = {post.expected for post in posts} - set(LABELS)
    if unknown:
        raise ValueError(f"{path}: expected labels {sorted(unknown)} are not pipeline labels {LABELS}")
    return posts


def agreement(posts: Sequence[CheckPost], scores: pd.DataFrame) -> dict[str, object]:
    """How often a model's output matches the expected labels.

    Args:
        posts: the check set.
        scores: ``TextScorer.score`` output for the posts' texts, same order.

    Returns:
        ``top_label`` (share whose most probable label is the expected one; an unscored
        post counts as a miss), ``in_text_labels`` (share whose ``text_labels`` contain
        it), ``by_style`` (top-label share per style) and ``misses`` (style, expected,
        predicted top label, text).
    """
    top = [None if probabilities is None else LABELS[int(np.argmax(probabilities))] for probabilities in scores["text_probs"]]
    hits = np.array([predicted == post.expected for predicted, post in zip(top, posts)])
    in_labels = np.array([labels is not None and post.expected in labels for labels, post in zip(scores["text_labels"], posts)])
    styles = sorted({post.style for post in posts})
    return {
        "posts": len(posts),
        "top_label": float(hits.mean()),
        "in_text_labels": float(in_labels.mean()),
        "by_style": {style: float(hits[[post.style == style for post in posts]].mean()) for style in styles},
        "misses": [(post.style, post.expected, predicted, post.text) for predicted, post, hit in zip(top, posts, hits) if not hit],
    }
