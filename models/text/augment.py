"""Social-media noise for distillation: variants of training comments that the teacher labels.

GoEmotions is Reddit prose; the pipeline reads posts with emoji, hashtags, mentions, shouting,
elongated words, typos and dropped words. Each variant applies a few of these edits to a
training comment. Because an edit can change the emotion (an added emoji, a dropped word),
the student learns a variant's labels from the teacher, not from the comment's gold labels.

Pure string work with a seeded ``numpy`` generator: the same seed gives the same variants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# Emoji and emoticons common on social media, across emotions: the teacher decides what each
# one does to the post it lands in.
EMOJI = ("😂", "😭", "❤️", "😡", "😱", "🙄", "😍", "🤢", "😢", "😮", "🔥", "🙏", "👍", "💀", "😊", ":)", ":(", "<3")
HANDLES = ("@jess_k", "@mike", "@the_real_dan", "@newsdesk", "@sam99", "@lou")
VOWELS = "aeiouy"


def _words(text: str) -> list[str]:
    return text.split()


def _pick_word(words: list[str], rng: np.random.Generator, min_length: int) -> int | None:
    """A random alphabetic word of at least ``min_length`` letters (its index), or None."""
    candidates = [index for index, word in enumerate(words) if word.isalpha() and len(word) >= min_length]
    return int(rng.choice(candidates)) if candidates else None


def add_emoji(text: str, rng: np.random.Generator) -> str:
    """One to three emoji at the end (most common) or after a random word."""
    emoji = " ".join(str(rng.choice(EMOJI)) for _ in range(int(rng.integers(1, 4))))
    words = _words(text)
    if not words or rng.random() < 0.7:
        return f"{text} {emoji}".strip()
    position = int(rng.integers(1, len(words) + 1))
    return " ".join(words[:position] + [emoji] + words[position:])


def add_hashtag(text: str, rng: np.random.Generator) -> str:
    """Turn a word, or two neighbours joined in camel case, into a hashtag."""
    words = _words(text)
    index = _pick_word(words, rng, 3)
    if index is None:
        return text
    if index + 1 < len(words) and words[index + 1].isalpha() and rng.random() < 0.5:
        words[index : index + 2] = ["#" + words[index].capitalize() + words[index + 1].capitalize()]
    else:
        words[index] = "#" + words[index]
    return " ".join(words)


def add_mention(text: str, rng: np.random.Generator) -> str:
    """Address someone: replace GoEmotions' ``[NAME]`` mask by a handle, or prepend one."""
    handle = str(rng.choice(HANDLES))
    if "[NAME]" in text:
        return text.replace("[NAME]", handle, 1)
    return f"{handle} {text}"


def change_casing(text: str, rng: np.random.Generator) -> str:
    """Shout (all capitals), whisper (all lower case) or shout one word."""
    choice = rng.random()
    if choice < 0.4:
        return text.upper()
    if choice < 0.7:
        return text.lower()
    words = _words(text)
    if not words:
        return text
    index = int(rng.integers(0, len(words)))
    words[index] = words[index].upper()
    return " ".join(words)


def elongate(text: str, rng: np.random.Generator) -> str:
    """Stretch a vowel or final letter of one word ("so" -> "sooooo")."""
    words = _words(text)
    index = _pick_word(words, rng, 2)
    if index is None:
        return text
    word = words[index]
    positions = [position for position, letter in enumerate(word) if letter.lower() in VOWELS] or [len(word) - 1]
    position = int(rng.choice(positions))
    words[index] = word[: position + 1] + word[position] * int(rng.integers(2, 6)) + word[position + 1 :]
    return " ".join(words)


def add_typo(text: str, rng: np.random.Generator) -> str:
    """Swap two neighbouring letters or drop one letter in a word of four letters or more."""
    words = _words(text)
    index = _pick_word(words, rng, 4)
    if index is None:
        return text
    word = words[index]
    position = int(rng.integers(0, len(word) - 1))
    if rng.random() < 0.5:
        words[index] = word[:position] + word[position + 1] + word[position] + word[position + 2 :]
    else:
        words[index] = word[:position] + word[position + 1 :]
    return " ".join(words)


def drop_words(text: str, rng: np.random.Generator, share: float = 0.15) -> str:
    """Drop about ``share`` of the words (at least one word stays)."""
    words = _words(text)
    if len(words) < 3:
        return text
    kept = [word for word in words if rng.random() >= share]
    return " ".join(kept or [words[int(rng.integers(0, len(words)))]])


def sample_span(text: str, rng: np.random.Generator) -> str:
    """Keep one contiguous run of 40 % or more of the words (texts of four words or more).

    N-gram sampling (Tang et al. 2019, "Distilling task-specific knowledge from BERT into
    simple neural networks"): the teacher labels part of a comment, so the student learns what
    each phrase carries instead of the whole comment's label.
    """
    words = _words(text)
    if len(words) < 4:
        return text
    length = int(rng.integers(max(2, int(np.ceil(0.4 * len(words)))), len(words)))
    start = int(rng.integers(0, len(words) - length + 1))
    return " ".join(words[start : start + length])


AUGMENTATIONS: dict[str, Callable[[str, np.random.Generator], str]] = {
    "emoji": add_emoji,
    "hashtag": add_hashtag,
    "mention": add_mention,
    "casing": change_casing,
    "elongation": elongate,
    "typo": add_typo,
    "word_dropout": drop_words,
    "span": sample_span,
}


def augment_text(text: str, rng: np.random.Generator, *, most_edits: int = 3) -> str:
    """A noisy variant of ``text``: one to ``most_edits`` different edits, in random order."""
    names = list(AUGMENTATIONS)
    count = int(rng.integers(1, most_edits + 1))
    for name in rng.choice(names, size=min(count, len(names)), replace=False):
        text = AUGMENTATIONS[str(name)](text, rng)
    return text


def augmented_variants(texts: Sequence[str], share: float, seed: int) -> tuple[np.ndarray, list[str]]:
    """Noisy variants of ``texts``: ``share`` variants per comment on average, with their sources.

    A share up to 1 gives one variant to a random ``share`` of the comments; a larger share
    gives every comment ``floor(share)`` variants and a random remainder one more (each round
    draws its own edits). Variants equal to their source (no edit applied, e.g. a one-word
    comment) or to an earlier variant of it are dropped: they would only count it twice.

    Returns:
        (variants,) int source row indices (sorted within each round) and the variant texts.
    """
    if not 0.0 <= share <= 8.0:
        raise ValueError(f"share must be in [0, 8] variants per comment, got {share}")
    sources, variants = [], []
    seen: set[tuple[int, str]] = set()
    rounds = int(np.ceil(share))
    for round_index in range(rounds):
        # round 0 draws from the bare seed: a share starts with the variants of every whole share below it
        rng = np.random.default_rng(seed if round_index == 0 else [seed, round_index])
        round_share = min(1.0, share - round_index)
        chosen = np.sort(rng.permutation(len(texts))[: int(round(round_share * len(texts)))])
        for index in chosen:
            variant = augment_text(texts[index], rng)
            if variant != texts[index] and (int(index), variant) not in seen:
                seen.add((int(index), variant))
                sources.append(int(index))
                variants.append(variant)
    return np.array(sources, dtype=np.int64), variants
