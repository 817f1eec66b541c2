"""The memoised address parsers answer exactly what `email.utils` answers."""

from email.utils import getaddresses, parseaddr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.providers import addresses

SAMPLES = [
    "ada@example.com",
    "Ada Lovelace <ada@example.com>",
    '"Lovelace, Ada" <ada@example.com>',
    "ada@example.com, Bob <bob@example.org>",
    "Zoë <zoe@exämple.com>",
    "not an address",
    "",
    "<>",
    "a@b (comment)",
    '"unbalanced <x@y.z>',
]


@pytest.mark.parametrize("value", SAMPLES)
def test_parse_is_parseaddr(value: str) -> None:
    assert addresses.parse(value) == parseaddr(value)


@pytest.mark.parametrize("value", SAMPLES)
def test_parse_list_is_getaddresses(value: str) -> None:
    assert list(addresses.parse_list([value, "c@d.e"])) == getaddresses([value, "c@d.e"])


@given(st.lists(st.text(alphabet='ab@.<>", ()\\é', max_size=12), max_size=3))
def test_any_input_parses_as_the_standard_library_does(values: list[str]) -> None:
    assert list(addresses.parse_list(values)) == getaddresses(values)
    for value in values:
        assert addresses.parse(value) == parseaddr(value)


def test_the_same_input_is_parsed_once() -> None:
    value = "Cached Person <cached@example.com>"
    first = addresses.parse_list([value])
    assert addresses.parse_list([value]) is first  # the cached tuple, not a new parse
