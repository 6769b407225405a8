"""Posts per second of the text model on one CPU thread, and the process's peak memory.

Speeds are posts per CPU-second of this process (per-core speed, which other jobs on a shared
machine do not distort) and, in brackets, wall-clock posts per second. Two figures per batch size: the network alone (texts tokenised beforehand) and the whole
``TextScorer.score`` path (language check, normalisation, tokenisation, network, top tokens).

    .venv/bin/python benchmarks/text_throughput.py --data ../shared/data/goemotions/ekman/dev.tsv
    .venv/bin/python benchmarks/text_throughput.py --data ... --model-dir models/weights/text_teacher --posts 1000
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import torch

from jobs.settings import DEFAULT_TEXT_MODEL
from models.text.inference import TextScorer, measure_throughput
from models.text.training import read_goemotions_tsv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions TSV whose texts are scored")
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_TEXT_MODEL)
    parser.add_argument("--posts", type=int, default=5000, help="posts per measurement (the TSV is cycled)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    texts, _, _ = read_goemotions_tsv(args.data)
    texts = (texts * (args.posts // len(texts) + 1))[: args.posts]
    scorer = TextScorer.load(args.model_dir, device="cpu")
    token_ids = [item.token_ids or [scorer.tokenizer.unknown_id] for item in scorer.tokenizer.encode(texts)]
    mean_tokens = sum(map(len, token_ids)) / len(token_ids)
    print(f"model {scorer.version}, {len(texts)} posts from {args.data} (mean {mean_tokens:.1f} word pieces), "
          f"{args.threads} thread(s), torch {torch.__version__}")
    for batch_size in (64, 256):
        best_wall, best_cpu = float("inf"), float("inf")
        for _ in range(args.repeats):
            wall_started, cpu_started = time.perf_counter(), time.process_time()
            scorer.run(token_ids, batch_size)  # the network step of either model kind (BiLSTM or teacher)
            best_cpu = min(best_cpu, time.process_time() - cpu_started)
            best_wall = min(best_wall, time.perf_counter() - wall_started)
        whole = measure_throughput(scorer, texts, batch_size=batch_size, repeats=args.repeats)
        print(
            f"batch {batch_size:>4}: network alone {len(texts) / best_cpu:6.0f} posts/CPU-s ({len(texts) / best_wall:6.0f} posts/s wall)"
            f" | TextScorer.score {whole['posts_per_cpu_second']:6.0f} posts/CPU-s ({whole['posts_per_second']:6.0f} posts/s wall)"
        )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
