"""Agreement of text models with the hand-written check set outside GoEmotions' style.

Prints, per model folder, the share of posts whose top label is the expected one (overall and
per style), the share whose ``text_labels`` contain it, and the misses; and how often two
models agree with each other.

    .venv/bin/python benchmarks/text_robustness.py models/weights/text models/weights/text_teacher
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from models.labels import LABELS
from models.text.check_set import agreement, read_check_set
from models.text.inference import TextScorer

CHECK_SET = Path(__file__).resolve().parent / "text_robustness.tsv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dirs", type=Path, nargs="+", help="text model folders (BiLSTM or teacher)")
    parser.add_argument("--check-set", type=Path, default=CHECK_SET)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    posts = read_check_set(args.check_set)
    tops: dict[str, list[str | None]] = {}
    for model_dir in args.model_dirs:
        scorer = TextScorer.load(model_dir, device="cpu")
        scores = scorer.score([post.text for post in posts])
        result = agreement(posts, scores)
        tops[scorer.version] = [None if p is None else LABELS[int(np.argmax(p))] for p in scores["text_probs"]]
        print(f"{scorer.version}: top label {result['top_label']:.3f}, in text_labels {result['in_text_labels']:.3f} "
              f"over {result['posts']} posts; by style {json.dumps({k: round(v, 3) for k, v in result['by_style'].items()})}")
        if args.show_misses:
            for miss in result["misses"]:
                print("   miss", miss)
    versions = list(tops)
    for index, first in enumerate(versions):
        for second in versions[index + 1 :]:
            same = np.mean([a == b for a, b in zip(tops[first], tops[second])])
            print(f"{first} and {second} share the top label on {same:.3f} of the posts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
