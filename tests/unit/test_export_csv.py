"""Export CSV text and request parsing: pure, no database."""

from __future__ import annotations

import csv
import io

import pytest

from tidings.errors import ApiError
from tidings.exports import service
from tidings.exports.csv_format import encode_rows, neutralise


@pytest.mark.parametrize(
    "cell, shown",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-5", "-5"),
        ("+3.25", "+3.25"),
        ("-1e3", "-1e3"),
        ("-.5", "-.5"),
        ("-", "'-"),
        ("- 5", "'- 5"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formulas_are_neutralised_and_numbers_kept(cell, shown):
    assert neutralise(cell) == shown


def test_rows_are_quoted_per_rfc_4180_and_read_back():
    rows = [["a,b", 'say "hi"', "line\nbreak", "café ✓", ""]]
    text = encode_rows(rows).decode()
    assert text == '"a,b","say ""hi""","line\nbreak",café ✓,\r\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == rows


def test_the_filter_is_under_filters_or_filter():
    condition = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}
    assert service.parse_customers_request({"filters": condition}).filter == condition
    assert service.parse_customers_request({"filter": condition}).filter == condition
    assert service.parse_customers_request({}).filter is None


def test_a_bad_filter_is_a_400_naming_its_path():
    body = {"filters": {"and": [{"attribute": {"field": "plan", "operator": "like"}}]}}
    with pytest.raises(ApiError) as caught:
        service.parse_customers_request(body)
    assert caught.value.status == 400
    assert caught.value.field == "filters.and[0].attribute.operator"
    assert caught.value.message.startswith("filters.and[0].attribute.operator:")


@pytest.mark.parametrize("attributes", ["plan", [1], [""], ["ok", None], {"a": 1}])
def test_attributes_must_be_a_list_of_names(attributes):
    with pytest.raises(ApiError) as caught:
        service.parse_customers_request({"attributes": attributes})
    assert (caught.value.status, caught.value.field) == (400, "attributes")


def test_extra_columns_keep_their_order_without_repeats_or_identifiers():
    request = service.parse_customers_request({"attributes": ["plan", "email", "age", "plan"]})
    assert request.attributes == ("plan", "age")


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "99999999999999999999", "١"])
def test_an_export_id_that_cannot_exist_is_a_404(raw):
    with pytest.raises(ApiError) as caught:
        service.parse_export_id(raw)
    assert caught.value.status == 404
