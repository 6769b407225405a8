"""Normalisation of social-media text and the English-language check."""

from __future__ import annotations

import pytest

from models.text.preprocess import (
    MAX_RAW_CHARACTERS,
    build_english_vocabulary,
    detect_language,
    language_words,
    normalize_text,
    split_hashtag,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Check https://example.com/a?b=1 now", "Check link now"),
        ("see www.example.org", "see link"),
        ("@alice_99 thanks!", "[NAME] thanks!"),
        ("so #HappyFriday today", "so Happy Friday today"),
        ("#blessed", "blessed"),
        ("I'm sooooo happyyyy", "I'm soo happyy"),
        ("I don't like it", "I do not like it"),
        ("you can't and won't", "you can not and will not"),
        ("  lots   of\n\tspace  ", "lots of space"),
        ("WHAT!!!!!!!", "WHAT!!!"),
        ("nice :)", "nice smiling face"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_emoji_become_words_and_runs_collapse() -> None:
    assert normalize_text("lol 😂😂😂") == "lol face with tears of joy"
    # Skin tone and zero-width-joiner decorations do not leak into the text.
    assert normalize_text("👍🏽") == "thumbs up"
    assert normalize_text("😡 🙂") == "pouting face slightly smiling face"


def test_hashtag_split_on_camel_case_and_digits() -> None:
    assert split_hashtag("NoMoreMondays") == "No More Mondays"
    assert split_hashtag("GoodVibes2024") == "Good Vibes 2024"
    assert split_hashtag("NASALaunch") == "NASA Launch"


def test_very_long_text_is_cut() -> None:
    text = "word " * 100_000
    assert len(normalize_text(text)) <= MAX_RAW_CHARACTERS


def test_language_words_skip_masks_urls_and_mentions() -> None:
    assert language_words("[NAME] said hi @bob https://x.y #tag 42") == ["said", "hi"]


ENGLISH_TRAINING = [
    "I am so happy for you, this is great news",
    "this is so sad, I can not believe it happened",
    "what the hell is wrong with you people",
    "I am so happy that you said this, thanks",
    "thanks for the great news, I can believe it now",
    "what is wrong with this, it is sad",
]


@pytest.fixture()
def english_words() -> frozenset[str]:
    return frozenset(build_english_vocabulary(ENGLISH_TRAINING, min_count=1))


@pytest.mark.parametrize(
    "text",
    [
        "Je suis très heureux de te voir aujourd'hui",  # French
        "Ich bin heute sehr traurig und müde",  # German
        "Estoy muy feliz porque llegó mi hermana",  # Spanish
        "Сегодня я очень счастлив",  # Russian
        "今日はとても嬉しいです",  # Japanese
    ],
)
def test_non_english_sentences_are_flagged(text: str, english_words: frozenset[str]) -> None:
    assert detect_language(text, english_words) == "other"


@pytest.mark.parametrize("text", ["I am so happy for you", "this is so sad", "what is wrong with you Bayless"])
def test_english_sentences_pass(text: str, english_words: frozenset[str]) -> None:
    assert detect_language(text, english_words) == "en"


def test_elongated_words_count_as_known(english_words: frozenset[str]) -> None:
    assert detect_language("sooooo saaaad", english_words) == "en"


def test_language_unknown_without_words(english_words: frozenset[str]) -> None:
    assert detect_language("😂😂 !!! 123", english_words) == "unknown"


def test_short_texts_need_one_known_word(english_words: frozenset[str]) -> None:
    assert detect_language("so sad", english_words) == "en"
    assert detect_language("Danke schön", english_words) == "other"


def test_vocabulary_min_count_drops_rare_words() -> None:
    words = build_english_vocabulary(["a cat", "a dog", "a cat"], min_count=2)
    assert words == ["a", "cat"]
    with pytest.raises(ValueError, match="min_count"):
        build_english_vocabulary([], min_count=0)


def test_min_known_share_is_validated(english_words: frozenset[str]) -> None:
    with pytest.raises(ValueError, match="min_known_share"):
        detect_language("hello", english_words, min_known_share=0.0)
