"""Numbers in values: what a double holds, and which texts spell a number (docs/conditions.md)."""

import pytest

from tidings.numbers import fits_double, number_in, sqlite_number


@pytest.mark.parametrize(
    ("value", "fits"),
    [
        (0, True),
        (-1.5, True),
        (10**308, True),
        (-(10**308), True),
        (2**1024 - 2**970 - 1, True),  # rounds down to the largest double
        (2**1024 - 2**970, False),  # rounds up to infinity
        (10**309, False),
        (-(10**400), False),
        (float("inf"), False),
        (float("nan"), False),
    ],
)
def test_fits_double(value, fits):
    assert fits_double(value) is fits


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("0", 0.0),
        ("-0", 0.0),
        ("42", 42.0),
        ("-2.5", -2.5),
        ("1e5", 100000.0),
        ("1E+2", 100.0),
        ("2.5e-3", 0.0025),
        ("1700000000", 1_700_000_000.0),
        ("1e308", 1e308),
        ("1.7976931348623158e308", 1.7976931348623157e308),  # rounds down: still a double
        ("5e-324", 5e-324),
        ("0e-999", 0.0),
        ("9" * 308, float("9" * 308)),
    ],
)
def test_texts_that_spell_a_number(text, number):
    assert number_in(text) == number


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-",
        "007",
        "01.5",
        " 12",
        "12 ",
        "+1",
        ".5",
        "1.",
        "1.e3",
        "1e",
        "1e+",
        "1e0005",  # exponents have at most three digits
        "0x10",
        "1_000",
        "1,5",
        "NaN",
        "Infinity",
        "-Infinity",
        "inf",
        "١٢",  # other scripts' digits
        "1e400",  # beyond a double
        "9" * 400,
        "1e-400",  # underflows to zero
        "1" + "0" * 1000,  # longer than 1000 characters
    ],
)
def test_texts_that_do_not(text):
    assert number_in(text) is None


def test_the_sqlite_function_answers_null_for_what_is_not_text():
    assert sqlite_number("12") == 12.0
    assert sqlite_number(None) is None
    assert sqlite_number(12) is None
    assert sqlite_number(b"12") is None
