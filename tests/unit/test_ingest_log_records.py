"""The ingest log's record format and partitioning (pure)."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import pytest

from tidings.config import IngestLog, Settings, settings_from_dict
from tidings.events import bulk
from tidings.events.service import parse_event
from tidings.ingest_log import kinds, records
from tidings.ingest_log.partitions import fair_share
from tidings.people.identifiers import classify


def test_a_record_survives_encoding_unchanged():
    event = bulk.plain(classify("u1"), parse_event({"name": "n", "id": "e1"}).received(5))
    record = kinds.track_v1(3, classify("u1"), event, 5)
    assert records.decode(records.encode([record])) == [record]
    assert records.msg_id([record]) == "3:v1.track:e1"


def test_a_record_without_a_dedup_key_has_no_message_id():
    record = kinds.identify_v1(3, classify("a@B.com"), {"plan": 1.5}, 7)
    assert records.msg_id([record]) is None
    assert record.identity == "email:a@b.com"  # one person, however the email is cased
    [back] = records.decode(records.encode([record]))
    assert back.payload == ["email", "a@B.com", {"plan": 1.5}]


def test_a_message_of_several_records_has_no_message_id():
    event = bulk.plain(classify("u1"), parse_event({"name": "n", "id": "e1"}).received(5))
    part = [kinds.track_v1(3, classify("u1"), event, 5)] * 2
    assert records.msg_id(part) is None  # the stored keys drop the repeat when applied


def test_records_are_grouped_by_partition_in_their_order():
    made = [kinds.identify_v1(1, classify(f"u{n % 3}"), {"n": n}, 5) for n in range(9)]
    parts = records.by_partition(made, 4)
    assert sorted(r.payload[2]["n"] for part in parts.values() for r in part) == list(range(9))
    for part in parts.values():
        assert [r.payload[2]["n"] for r in part] == sorted(r.payload[2]["n"] for r in part)
        assert len({records.partition_of(1, r.identity, 4) for r in part}) == 1


def test_anything_else_is_refused_on_decoding():
    with pytest.raises(msgspec.DecodeError):
        records.decode(b'[{"kind": "v1.track"}]')


@pytest.mark.parametrize(
    ("workspace", "identity", "expected"),
    [(1, "id:42", 1), (1, "id:43", 7), (2, "id:42", 4), (1, "email:a@b.com", 3)],
)
def test_partitions_are_a_stable_hash_of_workspace_and_identity(workspace, identity, expected):
    # CRC-32 of "<workspace>\0<identity>" mod 8, pinned: every server and worker, of
    # every version, must agree on them (changing the hash would reorder a partition).
    assert records.partition_of(workspace, identity, 8) == expected


def test_partitions_spread():
    seen = {records.partition_of(1, f"id:{n}", 8) for n in range(200)}
    assert seen == set(range(8))


def test_subjects_name_the_partition():
    assert records.subject("TIDINGS_INGEST", 5) == "TIDINGS_INGEST.p.5"


@pytest.mark.parametrize(
    ("partitions", "appliers", "share"), [(8, 1, 8), (8, 3, 3), (8, 8, 1), (8, 20, 1), (8, 0, 8)]
)
def test_each_applier_takes_a_fair_share_rounded_up(partitions, appliers, share):
    assert fair_share(partitions, appliers) == share


def test_the_setting_takes_nats_urls_only():
    assert IngestLog.parse("nats://a:4222, nats://b:4222").servers == (
        "nats://a:4222",
        "nats://b:4222",
    )
    with pytest.raises(ValueError, match="nats://"):
        IngestLog.parse("http://a:4222")


def test_settings_with_the_log_survive_the_trip_to_server_children():
    log = IngestLog.parse("nats://a:4222,nats://b:4222", partitions=16, lease=5)
    settings = Settings(database_url="postgresql+psycopg://x/y", ingest_log=log)
    passed = json.loads(json.dumps(dataclasses.asdict(settings)))  # as `serve --workers` does
    assert settings_from_dict(passed) == settings


def test_a_part_over_the_payload_limit_is_cut_into_messages_in_order():
    made = [
        kinds.identify_v1(1, classify("u1"), {"n": f"{n:02}", "p": "x" * 99}, 5) for n in range(20)
    ]
    limit = len(records.encode(made[:5])) + 1
    messages = records.encode_within(made, limit)
    assert len(messages) == 4
    assert all(len(message) <= limit for message in messages)
    back = [record for message in messages for record in records.decode(message)]
    assert back == made
    assert records.encode_within(made, 10**9) == [records.encode(made)]
