"""Score post texts with a trained text model: the API the Spark score job calls.

Probabilities: the network has one sigmoid per label (trained multi-label with BCE). The
pipeline needs a distribution, so ``text_probs`` are each sigmoid divided by that label's
tuned threshold (the model's own decision boundary, stored in its ``config.json``), then
renormalised to sum to 1 (:func:`decision_distribution`): labels rank as the model decides
them, so the top label of ``text_probs`` is always one of ``text_labels``. A model folder
without thresholds gives the plain normalised sigmoids. The scorer's ``version`` says which
(:data:`DECISION_SCALED_SUFFIX`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from models.labels import LABELS
from models.devices import resolve_device
from models.text.checkpoint import (
    ENGLISH_WORDS_FILE,
    TOKENIZER_FILE,
    TextModelConfig,
    load_text_checkpoint,
    weights_digest,
)
from models.text.network import TextEmotionNetwork
from models.text.preprocess import LANGUAGE_OTHER, detect_language
from models.text.tokenizer import TextTokenizer, pad_batch

if TYPE_CHECKING:
    from models.text.teacher_checkpoint import TeacherConfig

STATUS_OK = "ok"
STATUS_NO_TEXT = "no_text"
STATUS_NOT_ENGLISH = "not_english"
TOP_TOKEN_COUNT = 5

# Appended to the version of a scorer whose ``text_probs`` are scaled by its thresholds, so a lake
# scored with the plain normalised sigmoids (same weights) is told apart in ``scores`` and ``runs``.
DECISION_SCALED_SUFFIX = "-thresholded"


def scorer_version(architecture: str, digest: str, thresholds: Sequence[float] | None) -> str:
    """``"<architecture>+<digest>"``, with :data:`DECISION_SCALED_SUFFIX` when the model has tuned
    thresholds (its ``text_probs`` are then :func:`decision_distribution`'s scaled ones)."""
    return f"{architecture}+{digest}{DECISION_SCALED_SUFFIX if thresholds else ''}"


def network_version(version: str) -> str:
    """The ``"<architecture>+<digest>"`` part of a :func:`scorer_version`: it names the weights alone,
    i.e. the sigmoids (the tuned thresholds only rescale ``text_probs``, never the sigmoids)."""
    return version.removesuffix(DECISION_SCALED_SUFFIX)

# Word pieces that never explain an emotion: punctuation and the pieces of the [NAME] mask.
_UNINFORMATIVE_WORDS = frozenset({"[", "]", "name", "religion", "link"})


@dataclasses.dataclass(frozen=True)
class NetworkOutputs:
    """Sigmoid probabilities and attention for a list of texts, in input order.

    Attributes:
        label_probabilities: (texts, labels) independent sigmoids of the coarse head.
        fine_label_probabilities: (texts, fine labels) sigmoids of the fine head, or None.
        attention: per text, (tokens,) attention weights.
    """

    label_probabilities: np.ndarray
    fine_label_probabilities: np.ndarray | None
    attention: list[np.ndarray]


@torch.inference_mode()
def run_network(
    network: TextEmotionNetwork,
    token_id_lists: Sequence[Sequence[int]],
    *,
    padding_id: int,
    batch_size: int,
    device: torch.device,
) -> NetworkOutputs:
    """Run the network over non-empty token-id lists in length-sorted batches.

    Sorting by length keeps padding (wasted LSTM steps) low; outputs come back in input order.

    Args:
        network: the network, already on ``device`` and in eval mode.
        token_id_lists: one non-empty id list per text.
        padding_id: id used to pad.
        batch_size: texts per forward pass.
        device: where the network lives.

    Returns:
        :class:`NetworkOutputs` in input order.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    count = len(token_id_lists)
    num_labels = network.label_head.out_features
    num_fine = network.fine_label_head.out_features if network.fine_label_head is not None else 0
    label_probabilities = np.zeros((count, num_labels), dtype=np.float32)
    fine_probabilities = np.zeros((count, num_fine), dtype=np.float32) if num_fine else None
    attention: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * count
    order = sorted(range(count), key=lambda index: len(token_id_lists[index]))
    for start in range(0, count, batch_size):
        batch_indices = order[start : start + batch_size]
        token_ids, lengths = pad_batch([token_id_lists[index] for index in batch_indices], padding_id)
        label_logits, fine_logits, weights = network(token_ids.to(device), lengths)
        label_probabilities[batch_indices] = torch.sigmoid(label_logits).float().cpu().numpy()
        if fine_probabilities is not None and fine_logits is not None:
            fine_probabilities[batch_indices] = torch.sigmoid(fine_logits).float().cpu().numpy()
        weights_numpy = weights.float().cpu().numpy()
        for row, index in enumerate(batch_indices):
            attention[index] = weights_numpy[row, : int(lengths[row])]
    return NetworkOutputs(label_probabilities, fine_probabilities, attention)


def top_words(words: Sequence[str], word_indices: Sequence[int], weights: np.ndarray, count: int) -> list[str]:
    """The ``count`` words with the most attention (summed over their word pieces).

    Args:
        words: the post's words.
        word_indices: per word piece, the index of its word.
        weights: (pieces,) attention weights.
        count: how many words to return at most.

    Returns:
        Distinct lower-cased words, highest attention first; punctuation and masks skipped.
    """
    totals: dict[str, float] = {}
    for word_index, weight in zip(word_indices, weights):
        word = words[word_index].lower()
        if word in _UNINFORMATIVE_WORDS or not any(character.isalnum() for character in word):
            continue
        totals[word] = totals.get(word, 0.0) + float(weight)
    return [word for word, _ in sorted(totals.items(), key=lambda item: -item[1])[:count]]


class TextScorer:
    """A loaded text model: turns raw post texts into the pipeline's text score columns.

    Build it with :meth:`load` (or :func:`load_text_scorer`, cached per process).

    Attributes:
        version: :func:`scorer_version` of the architecture and the first 8 hex of the
            weights' SHA-256.
        config: the model configuration.
        device: where the network runs.
    """

    def __init__(
        self,
        network: torch.nn.Module,
        config: TextModelConfig | TeacherConfig,
        tokenizer: TextTokenizer,
        english_words: frozenset[str],
        device: torch.device,
        version: str,
    ) -> None:
        if tuple(config.labels) != LABELS:
            raise ValueError(f"model labels {config.labels} differ from the pipeline's LABELS {LABELS}")
        self.network = network.to(device).eval()
        self.config = config
        self.tokenizer = tokenizer
        self.english_words = english_words
        self.device = device
        self.version = version

    @classmethod
    def load(cls, model_dir: Path, device: str = "auto") -> TextScorer:
        """Load a model folder (see :mod:`models.text.checkpoint`), or a teacher folder
        (:mod:`models.text.teacher_checkpoint`), which gives a
        :class:`models.text.teacher_inference.TeacherScorer`.

        Args:
            model_dir: the folder with config, weights, tokenizer and word list.
            device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        """
        model_dir = Path(model_dir)
        from models.text.teacher_checkpoint import is_teacher_folder

        if cls is TextScorer and is_teacher_folder(model_dir):
            # One entry point for both kinds of model folder: EMODRIFT_TEXT_MODEL may name the
            # teacher (accurate mode) wherever the BiLSTM is loaded.
            from models.text.teacher_inference import TeacherScorer

            return TeacherScorer.load(model_dir, device)
        network, config = load_text_checkpoint(model_dir)
        tokenizer = TextTokenizer.from_file(model_dir / TOKENIZER_FILE, config.max_tokens)
        words = (model_dir / ENGLISH_WORDS_FILE).read_text(encoding="utf-8").split()
        version = scorer_version(config.architecture, weights_digest(model_dir), config.thresholds)
        return cls(network, config, tokenizer, frozenset(words), resolve_device(device), version)

    def predict_probabilities(self, texts: Sequence[str], batch_size: int = 256) -> NetworkOutputs:
        """Sigmoid probabilities of both heads for texts, no language check or status.

        Texts that leave no word piece after normalisation get the network's output for a
        single ``[UNK]``. Used by evaluation, where every text is scored.
        """
        encoded = self.tokenizer.encode(texts)
        token_id_lists = [item.token_ids or [self.tokenizer.unknown_id] for item in encoded]
        return self.run(token_id_lists, batch_size)

    def run(self, token_id_lists: Sequence[Sequence[int]], batch_size: int) -> NetworkOutputs:
        """The network over non-empty word-piece id lists (no special tokens), input order."""
        return run_network(
            self.network, token_id_lists, padding_id=self.tokenizer.padding_id, batch_size=batch_size, device=self.device
        )

    def score(self, texts: Sequence[str | None], batch_size: int = 256) -> pd.DataFrame:
        """Score post texts for the pipeline.

        Args:
            texts: one text per post; None, NaN, empty and whitespace-only texts are not scored.
            batch_size: texts per forward pass.

        Returns:
            One row per input, same order, columns ``text_probs`` (7 floats in ``LABELS``
            order summing to 1, or None when not scored), ``text_status`` (``"ok"``,
            ``"no_text"`` or ``"not_english"``), ``text_top_tokens`` (up to 5 words with the
            most attention), ``text_language`` (``"en"``, ``"other"`` or ``"unknown"``;
            ``"unknown"`` also for posts without text) and ``text_labels`` (the model's
            decision, see :meth:`decide_labels`; None when not scored).
        """
        count = len(texts)
        probabilities: list[list[float] | None] = [None] * count
        statuses = [STATUS_NO_TEXT] * count
        top_tokens: list[list[str]] = [[] for _ in range(count)]
        languages = ["unknown"] * count
        decided: list[list[str] | None] = [None] * count

        candidates: list[int] = []
        for index, text in enumerate(texts):
            # pandas hands a missing text over as None or as a float NaN.
            if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
                continue
            language = detect_language(str(text), self.english_words, min_known_share=self.config.min_known_share)
            languages[index] = language
            if language == LANGUAGE_OTHER:
                statuses[index] = STATUS_NOT_ENGLISH
                continue
            candidates.append(index)

        encoded = self.tokenizer.encode([str(texts[index]) for index in candidates])
        scorable = [(index, item) for index, item in zip(candidates, encoded) if item.token_ids]
        if scorable:
            outputs = self.run([item.token_ids for _, item in scorable], batch_size)
            distributions = decision_distribution(outputs.label_probabilities, self.config.thresholds)
            label_sets = self.decide_labels(outputs.label_probabilities)
            for row, (index, item) in enumerate(scorable):
                probabilities[index] = [float(value) for value in distributions[row]]
                decided[index] = label_sets[row]
                statuses[index] = STATUS_OK
                top_tokens[index] = top_words(item.words, item.word_indices, outputs.attention[row], TOP_TOKEN_COUNT)
        return pd.DataFrame(
            {
                "text_probs": pd.Series(probabilities, dtype=object),
                "text_status": pd.Series(statuses, dtype=object),
                "text_top_tokens": pd.Series(top_tokens, dtype=object),
                "text_language": pd.Series(languages, dtype=object),
                "text_labels": pd.Series(decided, dtype=object),
            }
        )

    def decide_labels(self, label_probabilities: np.ndarray) -> list[list[str]]:
        """The labels each post carries by the model's own rule, in ``LABELS`` order.

        A label is on when its sigmoid (not its share of ``text_probs``) reaches the
        per-label threshold tuned on dev and stored in the model's ``config.json``; a post
        where none does gets its most probable label. This is
        :func:`models.text.metrics.predict_label_sets`, the rule ``emodrift eval text``
        scores, so the reported F1 describes these labels. A model folder without tuned
        thresholds gives the most probable label only.

        Args:
            label_probabilities: (posts, labels) sigmoids of the coarse head.
        """
        from models.text.metrics import predict_label_sets  # keeps sklearn out of the import

        if self.config.thresholds:
            thresholds = np.asarray(self.config.thresholds, dtype=np.float64)
        else:
            thresholds = np.full(len(self.config.labels), np.inf)
        chosen = predict_label_sets(label_probabilities, thresholds)
        return [[self.config.labels[column] for column in np.flatnonzero(row)] for row in chosen]


def decision_distribution(label_probabilities: np.ndarray, thresholds: Sequence[float] | None) -> np.ndarray:
    """One distribution per text: each sigmoid divided by its label's threshold, renormalised.

    A label's sigmoid says little on its own scale: the network was trained on GoEmotions'
    unequal label frequencies, so a rare label (fear, threshold ~0.13) is decided at a third of
    the sigmoid a common one (joy, ~0.4) needs. Dividing by the threshold puts every label on
    the scale of its own decision (1 = exactly at the boundary), so the shares rank labels as
    ``text_labels`` does, and a post's rare emotion weighs in a user's day as much as a
    common one that the model is as sure of. On eleven ground-truth cohorts this found more
    planted transitions than the plain normalised sigmoids on ten (F1 0.863 against 0.852 on
    average), with thresholds tuned on either half of dev as well as on all of it
    (benchmarks/RESULTS.md).

    Args:
        label_probabilities: (texts, labels) sigmoids.
        thresholds: (labels,) tuned thresholds, or None / empty for the plain normalised sigmoids.

    Returns:
        (texts, labels) rows summing to 1.
    """
    scaled = np.asarray(label_probabilities, dtype=np.float64)
    if thresholds is not None and len(thresholds):
        scaled = scaled / np.asarray(thresholds, dtype=np.float64)[None, :]
    return scaled / scaled.sum(axis=1, keepdims=True)


_SCORERS: dict[tuple[str, str], TextScorer] = {}
_SCORERS_LOCK = threading.Lock()


def load_text_scorer(model_dir: Path, device: str = "auto") -> TextScorer:
    """The process-wide :class:`TextScorer` for a model folder and device, loaded once.

    Spark reuses Python workers across tasks; caching here (an imported module, not
    ``__main__``) makes each worker read the weights once.
    """
    key = (str(Path(model_dir).resolve()), device)
    with _SCORERS_LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = TextScorer.load(Path(model_dir), device)
        return _SCORERS[key]


def measure_throughput(
    scorer: TextScorer, texts: Sequence[str], *, batch_size: int = 256, repeats: int = 3
) -> dict[str, float]:
    """Posts per second of :meth:`TextScorer.score` over ``texts`` (best of ``repeats``).

    Covers everything a post goes through: language check, normalisation, tokenisation,
    the network and the top-token explanation. The caller sets the thread count.

    Returns:
        ``posts_per_cpu_second`` (posts over this process's CPU time: per-core speed that
        other processes on a shared machine do not distort) and ``posts_per_second`` (wall
        clock, what a user waits).
    """
    import time

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best_wall, best_cpu = math.inf, math.inf
    for _ in range(repeats):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        scorer.score(texts, batch_size=batch_size)
        best_cpu = min(best_cpu, time.process_time() - cpu_started)
        best_wall = min(best_wall, time.perf_counter() - wall_started)
    return {"posts_per_cpu_second": len(texts) / best_cpu, "posts_per_second": len(texts) / best_wall}
