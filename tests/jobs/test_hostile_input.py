"""No single landing line can fail a landing day: arbitrary lines through the real validation.

The property test feeds generated lines (random bytes, every JSON type in every field, huge and
tiny numbers, deep nesting, long strings, NUL and control characters, BOMs, CRLF, surrogate
escapes) through :func:`jobs.ingest.validate_lines` and then through the Arrow conversion that
``mapInPandas`` applies to its output, which is where the two crashers of issue 11 blew up.
The Spark test runs one landing day holding every kind of hostile line.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import ingest, quality
from jobs.contract import PlausibleWindow, Reason

DAY = dt.date(2026, 1, 15)
WINDOW = PlausibleWindow.for_landing_day(DAY, dt.date(2000, 1, 1))
GOOD = {"post_id": "p1", "user_id": "u1", "created_at": "2026-01-15T10:00:00Z", "text": "hello", "image": None}
ARROW_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()), ("line_number", pa.int64()), ("post_id", pa.string()),
        ("user_id", pa.string()), ("created_at", pa.timestamp("us")), ("text", pa.string()),
        ("image_path", pa.string()), ("dt", pa.string()), ("reason", pa.string()),
        ("detail", pa.string()), ("raw_line", pa.string()),
    ]
)

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()).map(
        lambda value: value.isoformat()
    ),
    st.sampled_from([
        "2999-01-15T10:00:00+00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
        "2026-01-15T10:00:00", "2026-01-17T00:00:00Z", "1999-12-31T23:59:59Z", "2026-02-30T10:00:00Z",
    ]),
)
hostile_strings = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Zs", "Cf"]), max_size=30),
    st.sampled_from(["\x00", "\ufeff", "\r\n", "\ud800", "\udfff x", "x" * 20_001, "../../etc/passwd", "a\x00.png"]),
)


@st.composite
def mutated_posts(draw) -> bytes:
    """A post whose fields are replaced by anything JSON can hold, serialised in hostile ways."""
    record: dict = dict(GOOD)
    for name in list(record):
        choice = draw(st.integers(0, 4))
        if choice == 1:
            record[name] = draw(json_values)
        elif choice == 2:
            record[name] = draw(hostile_strings)
        elif choice == 3 and name == "created_at":
            record[name] = draw(timestamps)
        elif choice == 4 and draw(st.booleans()):
            del record[name]
    text = json.dumps(record, ensure_ascii=draw(st.booleans()))
    encoded = text.encode("utf-8", errors="surrogatepass")  # lone surrogates as raw (invalid) UTF-8
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b" "]))
    suffix = draw(st.sampled_from([b"", b"\r", b"\x00", b" trailing"]))
    return prefix + encoded + suffix


raw_lines = st.one_of(
    st.binary(max_size=200),
    mutated_posts(),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.sampled_from([
        b'{"post_id": "p1", "user_id": "u1", "created_at": "2026-01-15T10:00:00Z", "text": "caf\xe9", "image": null}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"post_id": ' + b"9" * 5000 + b"}",
        b'{"post_id": 1e999, "user_id": -1e-999}',
    ]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(raw_lines, min_size=1, max_size=8))
def test_any_lines_validate_without_raising_and_reconcile(lines):
    batch = pd.DataFrame({"source_file": "f", "line_number": range(len(lines)), "raw_line": lines})

    validated = ingest.validate_lines(batch, "/landing/dt=2026-01-15", image_exists=lambda path: True, window=WINDOW)
    pa.Table.from_pandas(validated, schema=ARROW_SCHEMA, preserve_index=False)  # what mapInPandas does

    assert len(validated) == len(lines)
    rejected = validated["reason"].notna()
    assert set(validated.loc[rejected, "reason"]) <= set(Reason.ALL)
    assert validated.loc[rejected, "detail"].map(bool).all()
    valid = validated[~rejected]
    assert valid[["post_id", "user_id", "created_at", "dt"]].notna().all().all()
    assert ((valid["created_at"] >= pd.Timestamp("2000-01-01")) & (valid["created_at"] < pd.Timestamp("2026-01-17"))).all()
    accepted = valid["post_id"].nunique()
    duplicates = len(valid) - accepted
    assert len(lines) == accepted + int(rejected.sum()) + duplicates


HOSTILE_LINES: dict[str, bytes] = {
    Reason.INVALID_UTF8: b'{"post_id": "p-latin1", "user_id": "u1", "created_at": "2026-01-15T10:00:00Z", "text": "caf\xe9", "image": null}',
    Reason.IMPLAUSIBLE_TIMESTAMP: json.dumps({**GOOD, "post_id": "p-2999", "created_at": "2999-01-15T10:00:00+00:00"}).encode(),
    Reason.UNPAIRED_SURROGATE: b'{"post_id": "p-sur", "user_id": "u1", "created_at": "2026-01-15T10:00:00Z", "text": "\\ud800", "image": null}',
    Reason.BAD_JSON: b"[" * 50_000,
    Reason.NOT_AN_OBJECT: b"1e999",
    Reason.WRONG_TYPE: json.dumps({**GOOD, "post_id": 10**40}).encode(),
}
HOSTILE_LINES_SAME_REASON = [
    b"\x00\x01\x02\xff\xfe",  # invalid UTF-8
    json.dumps({**GOOD, "post_id": "p-year1", "created_at": "0001-01-01T00:00:00+01:00"}).encode(),  # implausible
    json.dumps({**GOOD, "post_id": "p-1999", "created_at": "1999-12-31T23:59:59Z"}).encode(),  # before earliest
    b'{"post_id": ' + b"9" * 5000 + b"}",  # bad JSON: longer than Python's integer digit limit
]
VALID_HOSTILE_LINES = [
    b"\xef\xbb\xbf" + json.dumps({**GOOD, "post_id": "p-bom"}).encode(),  # a byte-order mark
    json.dumps({**GOOD, "post_id": "p-crlf"}).encode() + b"\r",  # CRLF line end
    json.dumps({**GOOD, "post_id": "p-nul", "text": "a\x00b\x07 \u202e"}).encode(),  # NUL and controls
    json.dumps({**GOOD, "post_id": "p-late", "created_at": "2026-01-16T23:59:59Z"}).encode(),  # the day after: fine
    json.dumps({**GOOD, "post_id": "p-long", "text": "x" * 20_000}).encode(),
]


@pytest.mark.spark
def test_landing_day_of_hostile_lines_is_accounted_for(spark, tmp_settings):
    folder = tmp_settings.landing / f"dt={DAY.isoformat()}"
    folder.mkdir(parents=True)
    lines = [json.dumps(GOOD).encode(), *HOSTILE_LINES.values(), *HOSTILE_LINES_SAME_REASON, *VALID_HOSTILE_LINES]
    (folder / "posts.jsonl").write_bytes(b"\n".join(lines) + b"\n")

    manifest = ingest.run(spark, tmp_settings, DAY)

    assert manifest["read"] == len(lines)
    assert manifest["accepted"] == 1 + len(VALID_HOSTILE_LINES)
    assert manifest["read"] == manifest["accepted"] + manifest["quarantined"] + manifest["duplicates"]
    assert manifest["quarantine_reasons"] == {
        Reason.INVALID_UTF8: 2, Reason.IMPLAUSIBLE_TIMESTAMP: 3, Reason.UNPAIRED_SURROGATE: 1,
        Reason.BAD_JSON: 2, Reason.NOT_AN_OBJECT: 1, Reason.WRONG_TYPE: 1,
    }
    quality.run_ingest(tmp_settings, DAY)
    quarantine = pd.read_parquet(tmp_settings.table_path("quarantine"))
    latin1 = quarantine[quarantine["reason"] == Reason.INVALID_UTF8].sort_values("line_number").iloc[0]
    assert "caf\ufffd" in latin1["raw_line"]
    assert "raw bytes (base64): " in latin1["detail"]
    import base64

    assert base64.b64decode(latin1["detail"].rsplit(" ", 1)[1]) == HOSTILE_LINES[Reason.INVALID_UTF8]
    posts = pd.read_parquet(tmp_settings.table_path("posts"))
    assert sorted(posts["post_id"]) == sorted(["p1", "p-bom", "p-crlf", "p-nul", "p-late", "p-long"])
    assert posts.loc[posts["post_id"] == "p-nul", "text"].item() == "a\x00b\x07 \u202e"
