"""Social-media noise for distillation: each edit does what it says, seeded and reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from models.text.augment import (
    AUGMENTATIONS,
    add_emoji,
    add_hashtag,
    add_mention,
    add_typo,
    augmented_variants,
    drop_words,
    elongate,
    sample_span,
)

SENTENCE = "i really cannot believe how lovely the weather turned out today"


def test_each_edit_leaves_its_mark() -> None:
    rng = np.random.default_rng(0)
    assert any(emoji in add_emoji(SENTENCE, rng) for emoji in ("😂", "😭", "❤️", "😡", "😱", "🙄", "😍", "🤢", "😢", "😮", "🔥", "🙏", "👍", "💀", "😊", ":)", ":(", "<3"))
    assert "#" in add_hashtag(SENTENCE, rng)
    assert add_mention("thanks [NAME] for that", rng).startswith("thanks @")
    assert add_mention(SENTENCE, rng).startswith("@")
    stretched = elongate(SENTENCE, rng)
    assert len(stretched) > len(SENTENCE) and stretched.replace(" ", "") != SENTENCE.replace(" ", "")
    typo = add_typo(SENTENCE, rng)
    assert typo != SENTENCE and len(typo.split()) == len(SENTENCE.split())
    dropped = drop_words(SENTENCE, np.random.default_rng(3), share=0.5)
    assert 1 <= len(dropped.split()) < len(SENTENCE.split()) and set(dropped.split()) <= set(SENTENCE.split())
    span = sample_span(SENTENCE, np.random.default_rng(4))
    assert 5 <= len(span.split()) < len(SENTENCE.split()) and f" {span} " in f" {SENTENCE} "
    assert sample_span("too short here", np.random.default_rng(4)) == "too short here"
    assert set(AUGMENTATIONS) == {"emoji", "hashtag", "mention", "casing", "elongation", "typo", "word_dropout", "span"}


def test_edits_never_empty_a_text() -> None:
    rng = np.random.default_rng(1)
    for text in ["", "ok", "no way", "!!!"]:
        for edit in AUGMENTATIONS.values():
            result = edit(text, rng)
            assert isinstance(result, str) and (result.strip() or not text.strip())


def test_variants_are_seeded_and_point_at_their_sources() -> None:
    texts = [f"comment number {index} was quite surprising to read" for index in range(40)]
    sources, variants = augmented_variants(texts, 0.5, seed=7)
    again = augmented_variants(texts, 0.5, seed=7)
    assert np.array_equal(sources, again[0]) and variants == again[1]
    assert augmented_variants(texts, 0.5, seed=8)[1] != variants
    assert 15 <= len(variants) <= 20 and len(set(sources.tolist())) == len(sources)
    assert all(variant != texts[source] for source, variant in zip(sources, variants))
    with pytest.raises(ValueError, match="share"):
        augmented_variants(texts, -0.5, seed=0)


def test_a_share_above_one_gives_several_distinct_variants_per_comment() -> None:
    texts = [f"comment number {index} was quite surprising to read" for index in range(40)]
    sources, variants = augmented_variants(texts, 2.5, seed=7)
    counts = np.bincount(sources, minlength=len(texts))
    # two rounds for everyone and a third for about half; an edit may repeat an earlier variant
    assert 90 <= len(variants) <= 100 and counts.max() == 3 and counts.min() >= 1
    assert len(set(zip(sources.tolist(), variants))) == len(variants)
    assert all(variant != texts[source] for source, variant in zip(sources, variants))
    # the first round is the share-1 draw: a larger share only adds variants
    first_sources, first_variants = augmented_variants(texts, 1.0, seed=7)
    assert variants[: len(first_variants)] == first_variants
