"""How often the trained text model reads the sample generator's sentences as their planted label.

    .venv/bin/python benchmarks/sample_text_agreement.py [--model models/weights/text] [--show-misread]

Prints, per label, the share of bank sentences (plain, then decorated with emoji, mentions,
hashtags, elongations) whose top text_probs label is the planted one, and the labels it
confuses them with. A low figure means the ground truth of `emodrift sample` would not be
what the scorer sees: rewrite the misread sentences (naturally, no keyword stuffing).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from jobs.sample.texts import decorate, sentence_bank
from jobs.settings import DEFAULT_TEXT_MODEL
from models.labels import LABELS


class ProxyScorer:
    """A quick GoEmotions (Ekman) reader with the scorer's ``score(texts)`` shape.

    Rows with several labels are left out: one label per row keeps the fit a plain softmax.
    """

    def __init__(self, pipeline: object, dev_accuracy: float) -> None:
        self.pipeline = pipeline
        self.dev_accuracy = dev_accuracy

    @staticmethod
    def _read(path: Path) -> tuple[list[str], list[str]]:
        names = (path.parent / "labels.txt").read_text().split()
        texts, labels = [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            text, ids, _ = line.split("\t")
            if "," not in ids:
                texts.append(text)
                labels.append(names[int(ids)])
        return texts, labels

    @classmethod
    def fit(cls, folder: Path) -> ProxyScorer:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts, labels = cls._read(folder / "train.tsv")
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced"),
        )
        pipeline.fit(texts, labels)
        dev_texts, dev_labels = cls._read(folder / "dev.tsv")
        accuracy = float(np.mean(pipeline.predict(dev_texts) == np.asarray(dev_labels)))
        return cls(pipeline, accuracy)

    def score(self, texts: list[str]) -> "pd.DataFrame":
        import pandas as pd

        probabilities = self.pipeline.predict_proba(texts)
        order = [list(self.pipeline.classes_).index(label) for label in LABELS]
        return pd.DataFrame({"text_probs": [row[order].tolist() for row in probabilities]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_TEXT_MODEL)
    parser.add_argument("--show-misread", action="store_true")
    parser.add_argument("--proxy", type=Path, default=None, metavar="GOEMOTIONS_EKMAN_DIR",
                        help="instead of the project's model, fit a TF-IDF + logistic-regression reader on "
                             "this folder's train.tsv (e.g. ../shared/data/goemotions/ekman): a second, "
                             "independent GoEmotions-trained opinion")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine is shared
    if args.proxy is not None:
        scorer = ProxyScorer.fit(args.proxy)
        print(f"proxy reader: TF-IDF + logistic regression on {args.proxy / 'train.tsv'} "
              f"(dev top-label accuracy {scorer.dev_accuracy:.3f})")
    else:
        from models.text.inference import load_text_scorer

        scorer = load_text_scorer(args.model)
        print(f"model {scorer.version} from {args.model}")
    rng = np.random.default_rng(0)
    overall = {"plain": [0, 0], "decorated": [0, 0]}
    pooled_labels: list[str] = []
    pooled_probabilities: list[np.ndarray] = []
    for label in LABELS:
        plain = list(sentence_bank(label))
        decorated = [decorate(sentence, label, rng) for sentence in plain]
        for variant, texts in (("plain", plain), ("decorated", decorated)):
            scores = scorer.score(texts)
            predicted = [LABELS[int(np.argmax(probs))] if probs is not None else "unscored" for probs in scores["text_probs"]]
            if variant == "plain":
                pooled_labels += [label] * len(texts)
                pooled_probabilities += [np.asarray(probs, dtype=float) if probs is not None else np.full(len(LABELS), np.nan)
                                         for probs in scores["text_probs"]]
            hits = sum(prediction == label for prediction in predicted)
            overall[variant][0] += hits
            overall[variant][1] += len(texts)
            confusions = Counter(prediction for prediction in predicted if prediction != label).most_common(3)
            print(f"{label:<9} {variant:<9} agreement {hits}/{len(texts)} = {hits / len(texts):.2f}  misread as {confusions}")
            if args.show_misread and variant == "plain":
                for text, prediction in zip(texts, predicted):
                    if prediction != label:
                        print(f"    -> {prediction:<9} {text}")
    for variant, (hits, total) in overall.items():
        print(f"overall {variant}: {hits}/{total} = {hits / total:.3f}")
    # ranking view, robust to a model whose argmax is pulled to one label by its priors: does
    # text_probs[label] rank the label's own sentences above the other labels' sentences?
    from sklearn.metrics import roc_auc_score

    probabilities = np.vstack(pooled_probabilities)
    for index, label in enumerate(LABELS):
        is_label = np.array([name == label for name in pooled_labels])
        print(f"{label:<9} one-vs-rest ROC-AUC of text_probs[{label}] over the plain bank: "
              f"{roc_auc_score(is_label, probabilities[:, index]):.3f}")


if __name__ == "__main__":
    main()
