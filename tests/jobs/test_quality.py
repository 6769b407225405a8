from jobs.quality import ingest_problems, score_problems


def manifest(**overrides):
    values = {"read": 10, "accepted": 6, "quarantined": 3, "duplicates": 1, "quarantine_reasons": {"bad_json": 3}}
    values.update(overrides)
    return values


def test_reconciled_counts_pass():
    assert ingest_problems(manifest(), posts_rows=6, quarantine_rows=3) == []


def test_each_broken_count_is_reported():
    assert any("read 11" in problem for problem in ingest_problems(manifest(read=11), 6, 3))
    assert any("table posts" in problem for problem in ingest_problems(manifest(), 5, 3))
    assert any("table quarantine" in problem for problem in ingest_problems(manifest(), 6, 2))
    assert any("reasons" in problem for problem in ingest_problems(manifest(quarantine_reasons={"bad_json": 2}), 6, 3))


def test_score_problems():
    assert score_problems({"scored": 6, "posts": 6}, posts_rows=6, scores_rows=6) == []
    assert score_problems({"scored": 5, "posts": 6}, posts_rows=6, scores_rows=5)


def test_opted_out_lines_and_erased_rows_reconcile():
    counted = manifest(read=12, opted_out=2, erased_posts=4, erased_quarantine=1)
    assert ingest_problems(counted, posts_rows=2, quarantine_rows=2) == []
    assert any("opted out 1" in problem for problem in ingest_problems(manifest(read=12, opted_out=1), 6, 3))
    assert any("manifest says 2" in problem for problem in ingest_problems(counted, posts_rows=6, quarantine_rows=2))
