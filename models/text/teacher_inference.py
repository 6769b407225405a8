"""Scoring with the teacher: the accurate mode behind the same :class:`TextScorer` interface.

``EMODRIFT_TEXT_MODEL=models/weights/text_teacher`` makes the score job, ``score-text`` and
``eval text`` use the teacher; everything but the network step (language check,
normalisation, word pieces, statuses, top tokens, output columns) is the BiLSTM scorer's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.devices import resolve_device
from models.text.checkpoint import ENGLISH_WORDS_FILE, TOKENIZER_FILE
from models.text.inference import NetworkOutputs, TextScorer, scorer_version
from models.text.teacher import TeacherNetwork
from models.text.tokenizer import TextTokenizer, pad_batch


def teacher_token_ids(tokenizer: TextTokenizer, texts: Sequence[str]) -> list[list[int]]:
    """``[CLS] pieces [SEP]`` id lists for raw texts (a text with no piece gets ``[UNK]``)."""
    cls_id, sep_id = tokenizer.special_id("[CLS]"), tokenizer.special_id("[SEP]")
    return [[cls_id, *(item.token_ids or [tokenizer.unknown_id]), sep_id] for item in tokenizer.encode(texts)]


def padded_with_mask(id_lists: Sequence[Sequence[int]], padding_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists into (batch, time) ids and the 0/1 attention mask BERT layers take."""
    token_ids, lengths = pad_batch(id_lists, padding_id)
    mask = (torch.arange(token_ids.shape[1])[None, :] < lengths[:, None]).long()
    return token_ids, mask


@torch.inference_mode()
def run_teacher(
    network: TeacherNetwork,
    id_lists: Sequence[Sequence[int]],
    *,
    padding_id: int,
    batch_size: int,
    device: torch.device,
) -> NetworkOutputs:
    """The teacher over ``[CLS] pieces [SEP]`` id lists in length-sorted batches, input order.

    The attention returned per text covers its word pieces only (``[CLS]``/``[SEP]`` cut),
    renormalised, so it lines up with the tokenizer's word indices like the BiLSTM's does.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    count = len(id_lists)
    num_fine = network.fine_label_head.out_features if network.fine_label_head is not None else 0
    labels = np.zeros((count, network.label_head.out_features), dtype=np.float32)
    fine = np.zeros((count, num_fine), dtype=np.float32) if num_fine else None
    attention: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * count
    order = sorted(range(count), key=lambda index: len(id_lists[index]))
    for start in range(0, count, batch_size):
        batch = order[start : start + batch_size]
        token_ids, mask = padded_with_mask([id_lists[index] for index in batch], padding_id)
        label_logits, fine_logits, weights = network(token_ids.to(device), mask.to(device))
        labels[batch] = torch.sigmoid(label_logits).float().cpu().numpy()
        if fine is not None and fine_logits is not None:
            fine[batch] = torch.sigmoid(fine_logits).float().cpu().numpy()
        weights_numpy = weights.float().cpu().numpy()
        for row, index in enumerate(batch):
            pieces = weights_numpy[row, 1 : len(id_lists[index]) - 1]
            attention[index] = pieces / max(float(pieces.sum()), 1e-12)
    return NetworkOutputs(labels, fine, attention)


class TeacherScorer(TextScorer):
    """:class:`TextScorer` with the teacher as its network (build it with :meth:`load`)."""

    @classmethod
    def load(cls, model_dir: Path, device: str = "auto") -> TeacherScorer:
        """Load a teacher folder; the frozen part comes from the installed MiniLM package."""
        from models.text.teacher_checkpoint import load_teacher_checkpoint
        from models.checkpoints import weights_digest
        from models.text.checkpoint import WEIGHTS_FILE

        model_dir = Path(model_dir)
        network, config = load_teacher_checkpoint(model_dir)
        # Two places go to [CLS] and [SEP]: the word pieces get the rest.
        tokenizer = TextTokenizer.from_file(model_dir / TOKENIZER_FILE, config.max_tokens - 2)
        words = (model_dir / ENGLISH_WORDS_FILE).read_text(encoding="utf-8").split()
        version = scorer_version(config.architecture, weights_digest(model_dir / WEIGHTS_FILE), config.thresholds)
        return cls(network, config, tokenizer, frozenset(words), resolve_device(device), version)

    def run(self, token_id_lists: Sequence[Sequence[int]], batch_size: int) -> NetworkOutputs:
        """The teacher over word-piece id lists (``[CLS]``/``[SEP]`` are added here)."""
        cls_id, sep_id = self.tokenizer.special_id("[CLS]"), self.tokenizer.special_id("[SEP]")
        return run_teacher(
            self.network,
            [[cls_id, *ids, sep_id] for ids in token_id_lists],
            padding_id=self.tokenizer.padding_id,
            batch_size=batch_size,
            device=self.device,
        )
