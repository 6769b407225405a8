"""The text emotion network: word-piece embeddings -> bidirectional LSTM -> attention pooling.

The network only computes; :mod:`models.text.checkpoint` builds it from a configuration and
loads its weights, and :mod:`models.text.training` trains it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class AttentionPooling(nn.Module):
    """Additive attention over time steps: one weight per token, masked, summing to one.

    Args:
        input_dim: size of each time step's vector.
        attention_dim: size of the hidden layer that scores a time step.
    """

    def __init__(self, input_dim: int, attention_dim: int) -> None:
        super().__init__()
        self.projection = nn.Linear(input_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool a sequence into one vector.

        Args:
            states: (batch, time, input_dim) per-token vectors.
            mask: (batch, time) bool, True on real tokens.

        Returns:
            pooled (batch, input_dim) and weights (batch, time), zero on padding.
        """
        scores = self.score(torch.tanh(self.projection(states))).squeeze(-1)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)
        return pooled, weights


class TextEmotionNetwork(nn.Module):
    """Bidirectional LSTM (one or more layers) over word pieces with attention and max pooling, two label heads.

    One head predicts the coarse (Ekman) labels, the other the fine GoEmotions labels; both
    return logits for independent sigmoids (a post may carry several emotions).

    Args:
        vocabulary_size: number of word-piece ids.
        embedding_dim: size of each word-piece embedding.
        hidden_dim: LSTM state size per direction.
        attention_dim: hidden size of the attention scorer.
        num_labels: coarse labels (7 for the pipeline).
        num_fine_labels: fine labels (28 for GoEmotions); 0 disables the fine head.
        dropout: dropout rate on embeddings and on the pooled vector.
        padding_index: the word-piece id used for padding.
        layers: stacked LSTM layers (dropout between them at the same rate).
    """

    def __init__(
        self,
        vocabulary_size: int,
        embedding_dim: int,
        hidden_dim: int,
        attention_dim: int,
        num_labels: int,
        num_fine_labels: int,
        dropout: float = 0.3,
        padding_index: int = 0,
        layers: int = 1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, embedding_dim, padding_idx=padding_index)
        self.embedding_dropout = nn.Dropout(dropout)
        self.encoder = nn.LSTM(
            embedding_dim,
            hidden_dim,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.attention = AttentionPooling(2 * hidden_dim, attention_dim)
        self.output_dropout = nn.Dropout(dropout)
        self.label_head = nn.Linear(4 * hidden_dim, num_labels)
        self.fine_label_head = nn.Linear(4 * hidden_dim, num_fine_labels) if num_fine_labels > 0 else None

    def forward(
        self, token_ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Score a padded batch of word-piece sequences.

        Args:
            token_ids: (batch, time) int64 word-piece ids, padded at the end.
            lengths: (batch,) int64 number of real tokens per row, each >= 1 (kept on the CPU
                or not, either works).

        Returns:
            label_logits (batch, num_labels), fine_label_logits (batch, num_fine_labels) or
            None without a fine head, attention weights (batch, time) summing to 1 per row.
        """
        embedded = self.embedding_dropout(self.embedding(token_ids))
        # Packing keeps padding out of the backward direction, so a post's scores do not
        # depend on how long its batch neighbours are.
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        encoded, _ = self.encoder(packed)
        states, _ = pad_packed_sequence(encoded, batch_first=True, total_length=token_ids.shape[1])
        time_steps = torch.arange(token_ids.shape[1], device=token_ids.device)
        mask = time_steps.unsqueeze(0) < lengths.to(token_ids.device).unsqueeze(1)
        attended, weights = self.attention(states, mask)
        max_pooled = states.masked_fill(~mask.unsqueeze(-1), torch.finfo(states.dtype).min).amax(dim=1)
        pooled = self.output_dropout(torch.cat([attended, max_pooled], dim=-1))
        fine_logits = self.fine_label_head(pooled) if self.fine_label_head is not None else None
        return self.label_head(pooled), fine_logits, weights
