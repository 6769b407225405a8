"""The shipped text model through the API the score job uses (skips without weights)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from jobs.settings import Settings
from models.labels import LABEL_INDEX, LABELS
from models.text.checkpoint import CONFIG_FILE
from models.text.inference import (
    TextScorer,
    decision_distribution,
    load_text_scorer,
    network_version,
    scorer_version,
    top_words,
)

MODEL_DIR = Settings.from_env().text_model


@pytest.fixture(scope="module")
def scorer() -> TextScorer:
    if not (MODEL_DIR / CONFIG_FILE).is_file():
        pytest.skip(f"no trained text model in {MODEL_DIR} (run `emodrift train text`)")
    return TextScorer.load(MODEL_DIR, device="cpu")


def test_score_columns_statuses_and_order(scorer: TextScorer) -> None:
    texts = [
        "I love this so much, best day ever!",
        None,
        "",
        "   \n\t",
        "😂😂😂",
        "Je suis très heureux de te voir aujourd'hui avec toute la famille",
        "this is " + "really " * 5000 + "annoying",
        "Ich bin heute sehr traurig und müde",
        float("nan"),
    ]
    scores = scorer.score(texts, batch_size=3)
    assert list(scores.columns) == ["text_probs", "text_status", "text_top_tokens", "text_language", "text_labels"]
    assert len(scores) == len(texts)
    assert scores["text_status"].tolist() == ["ok", "no_text", "no_text", "no_text", "ok", "not_english", "ok", "not_english", "no_text"]
    assert scores["text_language"].tolist() == ["en", "unknown", "unknown", "unknown", "unknown", "other", "en", "other", "unknown"]
    for probabilities, status in zip(scores["text_probs"], scores["text_status"]):
        if status == "ok":
            assert len(probabilities) == len(LABELS)
            assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
            assert min(probabilities) >= 0.0
        else:
            assert probabilities is None
    assert all(len(tokens) <= 5 for tokens in scores["text_top_tokens"])
    assert scores["text_top_tokens"][5] == []
    for labels, status in zip(scores["text_labels"], scores["text_status"]):
        assert (labels is None) == (status != "ok")
        assert labels is None or (labels and set(labels) <= set(LABELS))


def test_text_labels_follow_the_stored_thresholds_on_the_sigmoids(scorer: TextScorer) -> None:
    texts = [
        "I love this so much, best day ever!",
        "this is disgusting, I am furious and scared at the same time",
        "ok",
        "wow I did not expect that, so sad to hear it",
    ]
    sigmoids = scorer.predict_probabilities(texts).label_probabilities
    thresholds = np.asarray(scorer.config.thresholds)
    assert thresholds.shape == (len(LABELS),)
    decided = scorer.score(texts)["text_labels"].tolist()
    for row, labels in enumerate(decided):
        passing = [label for label, value, cut in zip(LABELS, sigmoids[row], thresholds) if value >= cut]
        # the labels over their threshold, else the single most probable label
        assert labels == (passing or [LABELS[int(sigmoids[row].argmax())]])
    assert "joy" in decided[0]


def test_without_stored_thresholds_the_decision_is_the_top_label(scorer: TextScorer) -> None:
    import dataclasses

    bare = TextScorer(
        scorer.network,
        dataclasses.replace(scorer.config, thresholds=()),
        scorer.tokenizer,
        scorer.english_words,
        scorer.device,
        scorer.version,
    )
    scores = bare.score(["I am so happy and grateful", "that is gross"])
    for labels, probabilities in zip(scores["text_labels"], scores["text_probs"]):
        assert labels == [LABELS[int(np.argmax(probabilities))]]


def test_scores_do_not_depend_on_batch_size_or_order(scorer: TextScorer) -> None:
    texts = ["I am furious about this", "what a lovely surprise", "ok", "that is disgusting and gross"]
    first = np.array(scorer.score(texts, batch_size=1)["text_probs"].tolist())
    second = np.array(scorer.score(texts[::-1], batch_size=256)["text_probs"].tolist())[::-1]
    np.testing.assert_allclose(first, second, atol=1e-5)


CLEAR_SENTENCES = {
    "joy": ["Thank you so much, I love this! Best day ever.", "This made me so happy, congratulations!"],
    "anger": ["I am so angry right now, this is infuriating.", "Stop lying to me, I hate you and your stupid excuses."],
    "sadness": ["I miss her so much, I cried all night.", "So sad to hear that, my condolences for your loss."],
    "fear": ["I am terrified, this is so scary.", "I'm really afraid and nervous about the surgery tomorrow."],
    "surprise": ["Wow, I did not expect that at all!", "Whoa, really? That's amazing, I had no idea!"],
    "disgust": ["That is absolutely disgusting and gross.", "Ew, that's revolting, I feel sick just looking at it."],
    "neutral": ["The meeting is on Tuesday at 3pm.", "He posted the link in the other thread."],
}


def test_clear_sentences_get_their_emotion(scorer: TextScorer) -> None:
    texts = [text for sentences in CLEAR_SENTENCES.values() for text in sentences]
    expected = [label for label, sentences in CLEAR_SENTENCES.items() for _ in sentences]
    scores = scorer.score(texts)
    predicted = [LABELS[int(np.argmax(probabilities))] for probabilities in scores["text_probs"]]
    hits = sum(p == e for p, e in zip(predicted, expected))
    # 14 sentences, 7 labels: chance is 2 hits. Require a clear majority, and the easy ones.
    assert hits >= 11, list(zip(texts, predicted))
    assert predicted[0] == "joy" and predicted[2] == "anger" and predicted[4] == "sadness"


def test_emoji_carry_emotion(scorer: TextScorer) -> None:
    probabilities = scorer.score(["😂😂", "😭😭"])["text_probs"]
    assert probabilities[0][LABEL_INDEX["joy"]] > probabilities[1][LABEL_INDEX["joy"]]
    assert probabilities[1][LABEL_INDEX["sadness"]] > probabilities[0][LABEL_INDEX["sadness"]]


def test_negation_changes_the_score(scorer: TextScorer) -> None:
    happy, not_happy = scorer.score(["I am happy with this", "I am not happy with this"])["text_probs"]
    assert not_happy[LABEL_INDEX["joy"]] < happy[LABEL_INDEX["joy"]]


def test_top_tokens_come_from_the_text(scorer: TextScorer) -> None:
    text = "I absolutely hate waiting in traffic"
    tokens = scorer.score([text])["text_top_tokens"][0]
    assert tokens and set(tokens) <= set(text.lower().split())


def test_top_words_sum_pieces_and_skip_punctuation() -> None:
    words = ["so", "happiness", "!", "name"]
    assert top_words(words, [0, 1, 1, 2, 3], np.array([0.1, 0.2, 0.3, 0.35, 0.05]), 5) == ["happiness", "so"]


def test_version_and_cache(scorer: TextScorer) -> None:
    assert re.fullmatch(r"text-bilstm-v1\+[0-9a-f]{8}(-thresholded)?", scorer.version)
    assert scorer.version.endswith("-thresholded") == bool(scorer.config.thresholds)
    first = load_text_scorer(MODEL_DIR, "cpu")
    assert load_text_scorer(Path(str(MODEL_DIR) + "/"), "cpu") is first
    assert first.version == scorer.version


def test_folder_is_small_and_self_contained() -> None:
    if not (MODEL_DIR / CONFIG_FILE).is_file():
        pytest.skip("no trained text model")
    total = sum(path.stat().st_size for path in MODEL_DIR.iterdir() if path.is_file())
    assert total < 40e6
    for name in ("model.safetensors", "config.json", "tokenizer.json", "english_words.txt", "MODEL_CARD.md"):
        assert (MODEL_DIR / name).is_file(), name


@pytest.mark.gpu
def test_cuda_scores_match_cpu(scorer: TextScorer) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    texts = ["I am furious about this", "what a lovely surprise", "😂😂"]
    on_cuda = TextScorer.load(MODEL_DIR, device="cuda")
    np.testing.assert_allclose(
        np.array(on_cuda.score(texts)["text_probs"].tolist()), np.array(scorer.score(texts)["text_probs"].tolist()), atol=1e-4
    )


def test_text_probs_rank_labels_as_the_decision_does() -> None:
    sigmoids = np.array([[0.30, 0.05, 0.12, 0.40, 0.05, 0.05, 0.35], [0.01, 0.01, 0.01, 0.02, 0.01, 0.01, 0.03]])
    thresholds = [0.2, 0.46, 0.13, 0.41, 0.3, 0.22, 0.33]
    scaled = decision_distribution(sigmoids, thresholds)
    assert np.allclose(scaled.sum(axis=1), 1.0)
    # joy has the largest sigmoid but is under its threshold; anger is 1.5 times its own
    assert LABELS[int(np.argmax(scaled[0]))] == "anger" and LABELS[int(np.argmax(sigmoids[0]))] == "joy"
    assert np.allclose(scaled[0] / scaled[0, 0], (sigmoids[0] / thresholds) / (0.30 / 0.2))
    # without thresholds: the plain normalised sigmoids
    assert np.allclose(decision_distribution(sigmoids, None), sigmoids / sigmoids.sum(axis=1, keepdims=True))
    assert np.allclose(decision_distribution(sigmoids, ()), decision_distribution(sigmoids, None))


def test_the_top_label_of_text_probs_is_always_decided(scorer: TextScorer) -> None:
    texts = ["I am so happy today!", "this is terrifying", "why would you do that, it makes me furious", "ok", "meh whatever"]
    scores = scorer.score(texts)
    for probabilities, labels in zip(scores["text_probs"], scores["text_labels"]):
        assert LABELS[int(np.argmax(probabilities))] in labels


def test_scorer_version_marks_threshold_scaled_distributions_and_network_version_strips_it() -> None:
    scaled = scorer_version("text-bilstm-v1", "dbac3ca5", [0.2] * len(LABELS))
    plain = scorer_version("text-bilstm-v1", "dbac3ca5", None)
    assert scaled == "text-bilstm-v1+dbac3ca5-thresholded" and plain == "text-bilstm-v1+dbac3ca5"
    # the same weights give the same sigmoids, whatever the thresholds: one network version
    assert network_version(scaled) == network_version(plain) == plain
