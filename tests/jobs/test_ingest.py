import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from jobs import ingest, quality
from jobs.contract import Reason

pytestmark = pytest.mark.spark

DAY = dt.date(2026, 1, 15)
NEXT_DAY = dt.date(2026, 1, 16)


def write_landing(settings, day: dt.date, records: list, extra_lines: list[str] = ()) -> Path:
    folder = settings.landing / f"dt={day.isoformat()}"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with open(folder / "posts.jsonl", "w") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
        for raw in extra_lines:
            handle.write(raw + "\n")
    return folder


def post(post_id: str, created_at: str, user_id: str = "u1", text: str | None = "hello", image=None) -> dict:
    return {"post_id": post_id, "user_id": user_id, "created_at": created_at, "text": text, "image": image}


def read_posts(settings) -> pd.DataFrame:
    frame = pd.read_parquet(settings.table_path("posts"))
    frame = frame.astype({"dt": str, "landing_dt": str})
    return frame.sort_values("post_id").reset_index(drop=True)


def test_validate_lines_marks_missing_images(tmp_path):
    lines = pd.DataFrame(
        {
            "source_file": ["f", "f"],
            "line_number": [0, 1],
            "raw_line": [
                json.dumps(post("p1", "2026-01-15T10:00:00Z", image="images/here.png")),
                json.dumps(post("p2", "2026-01-15T10:00:00Z", image="images/gone.png")),
            ],
        }
    )
    existing = {f"{tmp_path}/images/here.png"}
    result = ingest.validate_lines(lines, str(tmp_path), image_exists=existing.__contains__)
    assert result["reason"].tolist() == [None, Reason.IMAGE_MISSING]
    assert result["image_path"].tolist()[0] == f"{tmp_path}/images/here.png"


def test_validate_lines_keeps_raw_text_only_for_quarantined_lines(tmp_path):
    lines = pd.DataFrame(
        {
            "source_file": ["f", "f", "f"],
            "line_number": [0, 1, 2],
            "raw_line": [
                json.dumps(post("p1", "2026-01-15T10:00:00+02:00")).encode(),
                b"{not json",
                json.dumps(post("p2", "2026-01-15T10:00:00Z", image="images/gone.png")).encode(),
            ],
        }
    )
    result = ingest.validate_lines(lines, str(tmp_path), image_exists=lambda path: False)
    assert result["reason"].tolist() == [None, Reason.BAD_JSON, Reason.IMAGE_MISSING]
    assert result["raw_line"].tolist() == [None, "{not json", lines["raw_line"][2].decode()]
    assert result["created_at"].tolist()[0] == pd.Timestamp("2026-01-15 08:00:00")  # naive UTC
    assert result["dt"].tolist() == ["2026-01-15", None, None]
    assert result["image_path"].isna().all()


def test_ingest_reconciles_partitions_late_posts_and_is_idempotent(spark, tmp_settings):
    records = [
        post("p1", "2026-01-15T10:00:00+02:00"),
        post("p2", "2026-01-15T01:30:00+05:00", user_id="u2", image="images/a.png"),  # 2026-01-14 in UTC
        post("p1", "2026-01-15T10:00:00+02:00", text="a later copy"),  # duplicate post_id: first one wins
        post("p3", "2026-01-15T10:00:00"),  # no offset
        post("p4", "2026-01-15T10:00:00Z", image="images/missing.png"),
        post("p5", "2026-01-15T10:00:00Z", image="../../etc/passwd"),
    ]
    write_landing(tmp_settings, DAY, records, extra_lines=["{broken", "", "42"])

    manifest = ingest.run(spark, tmp_settings, DAY)

    assert manifest["read"] == 9
    assert manifest["accepted"] == 2
    assert manifest["duplicates"] == 1
    assert manifest["quarantined"] == 6
    assert manifest["read"] == manifest["accepted"] + manifest["quarantined"] + manifest["duplicates"]
    assert manifest["quarantine_reasons"] == {
        Reason.BAD_JSON: 2, Reason.NOT_AN_OBJECT: 1, Reason.TIMESTAMP_WITHOUT_OFFSET: 1,
        Reason.IMAGE_MISSING: 1, Reason.IMAGE_OUTSIDE_LANDING: 1,
    }
    posts = read_posts(tmp_settings)
    assert posts["post_id"].tolist() == ["p1", "p2"]
    assert posts["text"].tolist()[0] == "hello"
    assert posts["dt"].tolist() == ["2026-01-15", "2026-01-14"]
    assert set(posts["landing_dt"]) == {"2026-01-15"}
    assert posts["created_at"].tolist()[1] == pd.Timestamp("2026-01-14T20:30:00")
    quarantine = pd.read_parquet(tmp_settings.table_path("quarantine"))
    assert "{broken" in set(quarantine["raw_line"])
    quality.run_ingest(tmp_settings, DAY)  # the gate passes

    # the next landing day writes into dt=2026-01-15 too; it must not clobber day one's rows
    write_landing(tmp_settings, NEXT_DAY, [post("p9", "2026-01-15T23:00:00-03:00"), post("p10", "2026-01-16T12:00:00Z")])
    ingest.run(spark, tmp_settings, NEXT_DAY)
    before_rerun = read_posts(tmp_settings)
    assert before_rerun["post_id"].tolist() == ["p1", "p10", "p2", "p9"]

    ingest.run(spark, tmp_settings, DAY)  # rerun: same rows, nothing doubled
    pd.testing.assert_frame_equal(read_posts(tmp_settings), before_rerun)

    # a corrected landing day replaces exactly what it wrote before, even vanished partitions
    write_landing(tmp_settings, DAY, [post("p1", "2026-01-15T10:00:00+02:00")])
    ingest.run(spark, tmp_settings, DAY)
    assert read_posts(tmp_settings)["post_id"].tolist() == ["p1", "p10", "p9"]
    assert not list(tmp_settings.table_path("posts").glob("dt=2026-01-14/landing_dt=2026-01-15/*.parquet"))


def test_quality_gate_fails_on_broken_counts(spark, tmp_settings):
    write_landing(tmp_settings, DAY, [post("p1", "2026-01-15T10:00:00Z")])
    ingest.run(spark, tmp_settings, DAY)
    manifest_path = tmp_settings.table_path("manifests") / "ingest" / "landing_dt=2026-01-15.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["read"] += 3
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(quality.DataQualityError, match="read 4 != accepted 1"):
        quality.run_ingest(tmp_settings, DAY)


def test_missing_landing_folder_says_what_to_do(spark, tmp_settings):
    with pytest.raises(FileNotFoundError, match="EMODRIFT_LANDING"):
        ingest.run(spark, tmp_settings, DAY)
