"""Text emotions: the tokenizer and preprocessing, the BiLSTM network, its training loop,
metrics and checkpoint format, and the batched scorer the pipeline calls."""

from models.text.inference import TextScorer, load_text_scorer

__all__ = ["TextScorer", "load_text_scorer"]
