"""Trigger bodies (pure): every audience form, the client quirks, the limits; data-file lines."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.campaigns import audiences
from tidings.campaigns.broadcasts import MAX_DATA_BYTES, MAX_ENTRIES, parse_trigger
from tidings.errors import ApiError

NO_FLAGS = {
    "id_ignore_missing": False,
    "email_ignore_missing": False,
    "email_add_duplicates": False,
}
SEGMENT = {"segment": {"id": 3}}


def audience(body: dict[str, Any]) -> dict[str, Any]:
    found = parse_trigger(body).audience
    return {k: v for k, v in found.items() if k not in NO_FLAGS or v}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"form": "default"}),
        ({"data": None}, {"form": "default"}),  # the Go client's nil data
        ({"recipients": SEGMENT}, {"form": "recipients", "recipients": SEGMENT}),
        ({"ids": ["1", 2]}, {"form": "ids", "ids": ["1", "2"]}),
        (
            {"emails": ["A@x.io"], "email_ignore_missing": True},
            {"form": "emails", "emails": ["A@x.io"], "email_ignore_missing": True},
        ),
        (
            {"per_user_data": [{"id": 1, "data": {"a": 1}}, {"email": "b@x.io"}]},
            {
                "form": "per_user_data",
                "per_user_data": [{"id": "1", "data": {"a": 1}}, {"email": "b@x.io", "data": {}}],
            },
        ),
        (
            {"data_file_url": "https://files.test/a.jsonl", "id_ignore_missing": True},
            {
                "form": "data_file_url",
                "data_file_url": "https://files.test/a.jsonl",
                "id_ignore_missing": True,
            },
        ),
        # Wrapped in `recipients` (the seed's and other clients' form): read as spread.
        (
            {"recipients": {"ids": ["1"], "id_ignore_missing": True}},
            {"form": "ids", "ids": ["1"], "id_ignore_missing": True},
        ),
        ({"recipients": {"emails": ["a@x.io"]}}, {"form": "emails", "emails": ["a@x.io"]}),
    ],
)
def test_audience_forms(body, expected):
    assert audience(body) == expected


def test_data_is_kept_as_given():
    assert parse_trigger({"data": {"a": [1, {"b": None}]}}).data == {"a": [1, {"b": None}]}


def refusal(body: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_trigger(body)
    assert caught.value.status == 422, caught.value.message
    return caught.value


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"ids": ["1"], "emails": ["a@x.io"]}, "at most one audience, not ids and emails"),
        ({"recipients": SEGMENT, "ids": ["1"]}, "not recipients and ids"),
        ({"idz": ["1"]}, "unknown field 'idz'"),
        ({"data": [1]}, "data must be an object"),
        ({"data": {"k": "x" * MAX_DATA_BYTES}}, f"at most {MAX_DATA_BYTES} bytes"),
        ({"ids": []}, "ids must be a non-empty array"),
        ({"ids": "1"}, "ids must be a non-empty array"),
        ({"ids": [str(n) for n in range(MAX_ENTRIES + 1)]}, f"at most {MAX_ENTRIES} entries"),
        ({"emails": ["a@x.io"] * (MAX_ENTRIES + 1)}, f"at most {MAX_ENTRIES} entries"),
        ({"per_user_data": [{"id": "1"}] * (MAX_ENTRIES + 1)}, f"at most {MAX_ENTRIES}"),
        ({"ids": [True]}, "ids[0] attribute must be a string value"),
        ({"ids": [""]}, "cannot be an empty string"),
        ({"emails": [""]}, "emails[0] must be an email address"),
        ({"per_user_data": [{"id": "1", "email": "a@x.io"}]}, "exactly one of id or email"),
        ({"per_user_data": [{"data": {}}]}, "exactly one of id or email"),
        ({"per_user_data": [{"id": "1", "data": 3}]}, "per_user_data[0].data must be an object"),
        ({"per_user_data": [{"id": "1", "extra": 3}]}, "unknown field 'extra'"),
        ({"data_file_url": "ftp://files.test/a"}, "only http and https"),
        ({"ids": ["1"], "id_ignore_missing": "yes"}, "id_ignore_missing must be true or false"),
        ({"recipients": {"bogus": {}}}, "unknown condition 'bogus'"),
        ({"recipients": {"ids": ["1"], "segment": {"id": 1}}}, "mixes 'segment'"),
        ({"recipients": {"ids": ["1"]}, "ids": ["2"]}, "ids is given both inside and outside"),
    ],
)
def test_refusals_are_422_naming_the_problem(body, words):
    assert words in refusal(body).message


def test_exactly_ten_thousand_entries_pass():
    assert len(audience({"ids": [str(n) for n in range(MAX_ENTRIES)]})["ids"]) == MAX_ENTRIES


# --- data-file lines -------------------------------------------------------------------------


def test_lines_are_numbered_across_chunks_and_long_ones_never_held():
    lines = [b'{"id": "1"}', b"x" * 100, b"", b'{"id": "2"}\r', b'{"id": "3"}']
    body = b"\n".join(lines)
    pieces = [body[n : n + 7] for n in range(0, len(body), 7)]
    assert list(audiences.numbered_lines(pieces, max_line=64)) == [
        (1, lines[0]),
        (2, None),
        (3, b""),
        (4, b'{"id": "2"}'),
        (5, lines[4]),
    ]


def test_file_chunks_resume_after_a_line_and_report_bad_lines(monkeypatch):
    monkeypatch.setattr(audiences, "CHUNK", 2)
    body = [b'{"id": "a"}\nnope\n{"email": "b@x.io", "data": {"k": 1}}\n[1]\n\n\n{"id": "c"}\n']
    assert list(audiences.file_chunks(body, 0)) == [
        (2, [("line 1", "id", "a", None)], ["line 2: not a JSON object"]),
        (
            4,
            [("line 3", "email", "b@x.io", {"k": 1})],
            ["line 4: the line must be an object holding id or email, and data"],
        ),
        (7, [("line 7", "id", "c", None)], []),
    ]
    assert list(audiences.file_chunks(body, 4)) == [(7, [("line 7", "id", "c", None)], [])]
    assert list(audiences.file_chunks(body, 7)) == []
