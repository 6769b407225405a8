"""Word-piece tokenisation (the all-MiniLM-L6-v2 vocabulary) and batch padding for the text model."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer

from models.text.preprocess import normalize_text


@dataclasses.dataclass(frozen=True)
class EncodedText:
    """One post after normalisation and tokenisation.

    Attributes:
        token_ids: word-piece ids, at most ``max_tokens`` of them, no special tokens.
        word_indices: for each word piece, the index of the word it belongs to.
        words: the words of the normalised text, as cut by the tokenizer's pre-tokenizer.
    """

    token_ids: list[int]
    word_indices: list[int]
    words: list[str]


class TextTokenizer:
    """Normalise social-media text and cut it into word-piece ids.

    Args:
        tokenizer: a ``tokenizers`` word-piece tokenizer (lower-casing, BERT-style).
        max_tokens: word pieces kept per text; longer texts keep their start.
    """

    def __init__(self, tokenizer: Tokenizer, max_tokens: int) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be > 0, got {max_tokens}")
        self.max_tokens = max_tokens
        self._tokenizer = tokenizer
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        padding_id = tokenizer.token_to_id("[PAD]")
        unknown_id = tokenizer.token_to_id("[UNK]")
        if padding_id is None or unknown_id is None:
            raise ValueError("the tokenizer has no [PAD] or [UNK] token; is it a BERT word-piece tokenizer?")
        self.padding_id: int = padding_id
        self.unknown_id: int = unknown_id

    @classmethod
    def from_file(cls, path: Path, max_tokens: int) -> TextTokenizer:
        """Read a ``tokenizer.json``."""
        return cls(Tokenizer.from_file(str(path)), max_tokens)

    def special_id(self, token: str) -> int:
        """The id of a special token such as ``[CLS]``; an error when the vocabulary lacks it."""
        token_id = self._tokenizer.token_to_id(token)
        if token_id is None:
            raise ValueError(f"the tokenizer has no {token} token")
        return token_id

    @property
    def vocabulary_size(self) -> int:
        """Number of word-piece ids."""
        return self._tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str]) -> list[EncodedText]:
        """Normalise and tokenise raw texts (see :func:`models.text.preprocess.normalize_text`).

        Args:
            texts: raw post texts (strings, not None).

        Returns:
            One :class:`EncodedText` per text; ``token_ids`` is empty when nothing is left.
        """
        normalized = [normalize_text(text) for text in texts]
        encodings = self._tokenizer.encode_batch(normalized, add_special_tokens=False)
        encoded: list[EncodedText] = []
        for text, encoding in zip(normalized, encodings):
            word_indices: list[int] = []
            words: list[str] = []
            seen: dict[int, tuple[int, int]] = {}
            for word_id, (start, end) in zip(encoding.word_ids, encoding.offsets):
                key = -1 if word_id is None else word_id
                if key not in seen:
                    seen[key] = (len(words), start)
                    words.append(text[start:end])
                else:
                    # Extend the word over its later pieces ("happ" + "##iness").
                    words[seen[key][0]] = text[seen[key][1] : end]
                word_indices.append(seen[key][0])
            encoded.append(EncodedText(token_ids=list(encoding.ids), word_indices=word_indices, words=words))
        return encoded


def pad_batch(token_id_lists: Sequence[Sequence[int]], padding_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists at the end into one tensor.

    Args:
        token_id_lists: one non-empty list of ids per text.
        padding_id: the id that fills the tail.

    Returns:
        token_ids (batch, longest) int64 and lengths (batch,) int64.
    """
    lengths = torch.tensor([len(ids) for ids in token_id_lists], dtype=torch.int64)
    if len(token_id_lists) == 0 or int(lengths.min()) == 0:
        raise ValueError("every text in a batch needs at least one token; drop empty texts first")
    token_ids = torch.full((len(token_id_lists), int(lengths.max())), padding_id, dtype=torch.int64)
    for row, ids in enumerate(token_id_lists):
        token_ids[row, : len(ids)] = torch.as_tensor(ids, dtype=torch.int64)
    return token_ids, lengths
