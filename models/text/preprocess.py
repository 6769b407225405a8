"""Social-media text clean-up and the English-language check, shared by training and scoring.

Everything here is pure string work: the same :func:`normalize_text` runs on the GoEmotions
training comments and on pipeline posts, so whatever it does to a URL or an emoji the model
has seen during training.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

# Raw texts beyond this many characters are cut before any regex runs: the model reads at
# most a few hundred word pieces anyway, and a multi-megabyte post must not stall a worker.
MAX_RAW_CHARACTERS = 4000

# GoEmotions masks user names as "[NAME]"; mapping @mentions onto the same mask keeps
# pipeline posts inside the training distribution.
NAME_MASK = "[NAME]"
URL_WORD = "link"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
# Three or more repeats of one letter ("soooo", "nooooo") become two: the tokenizer's
# vocabulary knows "soo" far better than any longer run, and no English word needs three.
_ELONGATION = re.compile(r"([A-Za-z])\1{2,}")
_REPEATED_PUNCTUATION = re.compile(r"([!?.])\1{3,}")
# "don't" -> "do not": the word-piece tokenizer would otherwise cut negation into "don ' t",
# and an explicit "not" is what the network learns to flip a sentiment on.
_NEGATION = re.compile(r"(?i)\b(ca|wo|sha|do|does|did|is|are|was|were|has|have|had|could|would|should|must|need|ai)n['’]t\b")
_NEGATION_FULL = {"ca": "can", "wo": "will", "sha": "shall", "ai": "is"}
_WHITESPACE = re.compile(r"\s+")
# Letters in any script (no digits, no underscore): the units the language check counts.
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")

# Text emoticons carry as much emotion as emoji do on social media; the words are those the
# Unicode names of the matching emoji use, so both spellings reach the same word pieces.
_EMOTICONS: dict[str, str] = {
    ":)": "smiling face",
    ":-)": "smiling face",
    ":(": "frowning face",
    ":-(": "frowning face",
    ":D": "grinning face",
    ":-D": "grinning face",
    ";)": "winking face",
    ";-)": "winking face",
    ":P": "face with tongue",
    ":p": "face with tongue",
    ":'(": "crying face",
    "<3": "heart",
    ":/": "confused face",
}
_EMOTICON = re.compile(r"(?<!\S)(" + "|".join(re.escape(emoticon) for emoticon in _EMOTICONS) + r")(?=\s|$|[.,!?])")


@functools.lru_cache(maxsize=4096)  # a night repeats the same few hundred characters
def _emoji_words(character: str) -> str | None:
    """Unicode name of a pictographic character as lower-case words, or None for others."""
    if unicodedata.category(character) != "So":
        return None
    name = unicodedata.name(character, "")
    if not name:
        return None
    # Unicode's old names say "BLACK HEART" for a plain red heart; the colour word is noise.
    words = [word for word in name.lower().split() if word not in {"black", "white", "heavy", "sign", "symbol"}]
    return " ".join(words) or None


def _replace_emoji(text: str) -> str:
    if text.isascii():
        return text
    pieces: list[str] = []
    previous_words: str | None = None
    for character in text:
        code_point = ord(character)
        # Skin-tone modifiers, variation selectors and zero-width joiners decorate an emoji
        # without changing the emotion it shows.
        if 0x1F3FB <= code_point <= 0x1F3FF or 0xFE00 <= code_point <= 0xFE0F or code_point == 0x200D:
            continue
        words = _emoji_words(character)
        if words is None:
            pieces.append(character)
            previous_words = None
        elif words != previous_words:
            # A run of one emoji ("😂😂😂") says the same as one: keep it once.
            pieces.append(f" {words} ")
            previous_words = words
    return "".join(pieces)


def split_hashtag(tag: str) -> str:
    """Split a hashtag body on camel case and digits: ``"SoHappy2day"`` -> ``"So Happy 2 day"``."""
    return _CAMEL_BOUNDARY.sub(" ", tag.replace("_", " "))


def normalize_text(text: str) -> str:
    """Rewrite a social-media post into the plain form the text model reads.

    URLs become ``link``, @mentions ``[NAME]`` (GoEmotions' own user mask), hashtags lose
    their ``#`` and are split on camel case, emoji and emoticons become the words of their
    Unicode names, letter runs longer than two shrink to two, ``n't`` becomes ``not`` and
    whitespace collapses. Casing is left alone (the tokenizer lower-cases).

    Args:
        text: one post's text.

    Returns:
        The normalised text; empty when nothing readable is left.
    """
    text = text[:MAX_RAW_CHARACTERS]
    text = _URL.sub(f" {URL_WORD} ", text)
    text = _MENTION.sub(f" {NAME_MASK} ", text)
    text = _HASHTAG.sub(lambda match: " " + split_hashtag(match.group(1)) + " ", text)
    text = _EMOTICON.sub(lambda match: " " + _EMOTICONS[match.group(1)] + " ", text)
    text = _replace_emoji(text)
    text = _ELONGATION.sub(r"\1\1", text)
    text = _REPEATED_PUNCTUATION.sub(r"\1\1\1", text)
    text = _NEGATION.sub(lambda match: " " + _NEGATION_FULL.get(match.group(1).lower(), match.group(1)) + " not", text)
    return _WHITESPACE.sub(" ", text).strip()


def language_words(text: str) -> list[str]:
    """The lower-cased words (letters of any script) that the language check counts.

    URLs, mentions, hashtags, the ``[NAME]``/``[RELIGION]`` masks and emoji are removed first:
    they say nothing about the language a post is written in.
    """
    text = text[:MAX_RAW_CHARACTERS]
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(" ", text)
    text = text.replace("[NAME]", " ").replace("[RELIGION]", " ")
    return [word.lower().replace("’", "'") for word in _WORD.findall(text)]


def build_english_vocabulary(texts: Iterable[str], *, min_count: int = 2) -> list[str]:
    """Words seen at least ``min_count`` times in English training texts, sorted.

    Args:
        texts: English texts (the GoEmotions training comments).
        min_count: drop rarer words; Reddit comments quote the odd foreign word once.

    Returns:
        The word list, one lower-cased word per entry.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = Counter(word for text in texts for word in language_words(text))
    return sorted(word for word, count in counts.items() if count >= min_count)


LANGUAGE_ENGLISH = "en"
LANGUAGE_OTHER = "other"
LANGUAGE_UNKNOWN = "unknown"


_LETTER_RUN = re.compile(r"(\w)\1{2,}")


def _is_known(word: str, english_words: frozenset[str] | set[str]) -> bool:
    """A word is known as written, or with its letter runs ("sooooo") squeezed to two or one."""
    if word in english_words:
        return True
    if not _LETTER_RUN.search(word):
        return False
    return _LETTER_RUN.sub(r"\1\1", word) in english_words or _LETTER_RUN.sub(r"\1", word) in english_words


def detect_language(
    text: str,
    english_words: frozenset[str] | set[str],
    *,
    min_known_share: float = 0.5,
    min_words: int = 3,
) -> str:
    """Say whether a text is English, by the share of its words found in an English word list.

    Args:
        text: the raw post text.
        english_words: lower-cased English words (see :func:`build_english_vocabulary`).
        min_known_share: the share of known words at or above which a text counts as English.
        min_words: texts with fewer words are only called "other" when none of their words is
            known; one unknown word (a name, a slang term) is too little evidence.

    Returns:
        ``"en"``, ``"other"`` (words present, mostly not English) or ``"unknown"`` (no words at
        all: emoji, numbers or punctuation only).
    """
    if not 0.0 < min_known_share <= 1.0:
        raise ValueError(f"min_known_share must be in (0, 1], got {min_known_share}")
    words = language_words(text)
    if not words:
        return LANGUAGE_UNKNOWN
    known = sum(_is_known(word, english_words) for word in words)
    if len(words) < min_words:
        return LANGUAGE_ENGLISH if known > 0 else LANGUAGE_OTHER
    return LANGUAGE_ENGLISH if known / len(words) >= min_known_share else LANGUAGE_OTHER
