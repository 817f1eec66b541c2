"""Liquid rendering: Customer.io's variables, tags and filters, limits and errors."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tidings.errors import ApiError
from tidings.templates import liquid_engine, liquid_filters
from tidings.templates import render as render_module
from tidings.templates.render import MAX_TEMPLATE_CHARS, Context, render_fields

NOV_14_2023 = 1700000000  # 2023-11-14 22:13:20 UTC


def render(source: str, **context: Any) -> str:
    context.setdefault("customer", {})
    context.setdefault("trigger", {})
    out = render_fields({"body": source}, Context(**context), template_name="welcome")
    assert out["body"] is not None
    return out["body"]


def refused(source: str, **context: Any) -> str:
    with pytest.raises(ApiError) as caught:
        render(source, **context)
    assert caught.value.status == 400
    return caught.value.message


# --- variables -----------------------------------------------------------------


def test_customer_trigger_and_message_data() -> None:
    out = render(
        "{{ customer.first_name }} {{ trigger.order.id }} {{ message_data.order.id }}",
        customer={"first_name": "Ada"},
        trigger={"order": {"id": 7}},
    )
    assert out == "Ada 7 7"


def test_missing_values_render_empty_and_default_fills_them() -> None:
    assert render("[{{ customer.nope }}]") == "[]"
    assert render('{{ customer.first_name | default: "there" }}') == "there"


def test_event_variables() -> None:
    event = {"name": "purchase", "data": {"total": 12}, "id": "e1", "timestamp": 5}
    out = render(
        "{{ event_name }} {{ event.total }} {{ event_id }} {{ event_timestamp }}", event=event
    )
    assert out == "purchase 12 e1 5"
    assert render("[{{ event.total }}{{ event_name }}]") == "[]"


def test_collections_by_name_and_fixed_names_win() -> None:
    rows = [{"name": "Launch"}, {"name": "Party"}]
    out = render(
        "{{ upcoming_events[0].name }}{% for e in upcoming_events %},{{ e.name }}{% endfor %}",
        collections={"upcoming_events": rows},
    )
    assert out == "Launch,Launch,Party"
    assert render("{{ customer.a }}", customer={"a": 1}, collections={"customer": {"a": 2}}) == "1"


def test_snippets_render_as_liquid_with_the_same_variables() -> None:
    snippets = {"footer": "Bye {{ customer.first_name }}", "outer": "[{{ snippets.footer }}]"}
    out = render("{{ snippets.outer }}", customer={"first_name": "Ada"}, snippets=snippets)
    assert out == "[Bye Ada]"
    assert render("[{{ snippets.nope }}]", snippets=snippets) == "[]"


def test_a_snippet_that_includes_itself_is_an_error() -> None:
    message = refused(
        "{{ snippets.a }}", snippets={"a": "{{ snippets.b }}", "b": "{{ snippets.a }}"}
    )
    assert "includes itself" in message


def test_unsubscribe_and_view_in_browser_as_tags_and_variables() -> None:
    out = render(
        "{% unsubscribe_url %} {{ unsubscribe_url }} {% view_in_browser_url %}",
        unsubscribe_url="https://t/u/1",
        view_in_browser_url="https://t/v/1",
    )
    assert out == "https://t/u/1 https://t/u/1 https://t/v/1"
    assert render("[{% unsubscribe_url %}]") == "[]"


def test_none_fields_stay_none_and_every_field_renders() -> None:
    out = render_fields(
        {"subject": "Hi {{ customer.n }}", "body": "<p>{{ customer.n }}</p>", "amp": None},
        Context(customer={"n": "Ada"}, trigger={}),
        template_name="t",
    )
    assert out == {"subject": "Hi Ada", "body": "<p>Ada</p>", "amp": None}


# --- filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{{ t | date: "%Y-%m-%d %H:%M" }}', "2023-11-14 22:13"),
        ('{{ t | date: "%Y-%m-%d %H:%M", "America/New_York" }}', "2023-11-14 17:13"),
        ('{{ t | format_date: "%b %-d" }}', "Nov 14"),
        ('{{ s | date: "%s" }}', str(NOV_14_2023)),
        ('{{ iso | date: "%H:%M", "Europe/Paris" }}', "11:30"),
        ('{{ "2023-11-14" | date: "%A" }}', "Tuesday"),
        ('{{ "not a date" | date: "%Y" }}', "not a date"),
        ('{{ "now" | date: "%Y" }}', "2023"),
        ("{{ 1234.5 | currency }}", "$1,234.50"),
        ('{{ 1234.5 | currency: "de-de" }}', "1.234,50\xa0€"),
        ('{{ "10" | money: "en-us", "EUR" }}', "€10.00"),
        ("{{ 1234567.891 | format_number }}", "1,234,567.891"),
        ('{{ 1234.5 | format_number: "en-us", 2 }}', "1,234.50"),
        ('{{ "ada lovelace" | titlecase }}', "Ada Lovelace"),
        ('{{ "ada LOVELACE" | capitalize }}', "Ada lovelace"),
        ('{{ "a b&c" | url_encode }}', "a+b%26c"),
        ('{{ "abc" | md5 }}', "900150983cd24fb0d6963f7d28e17f72"),
        ('{{ "abc" | sha1 }}', "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            '{{ "abc" | sha256 }}',
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            '{{ "msg" | hmac_sha256: "key" }}',
            "2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628",
        ),
        ("{{ order | json }}", '{"id":7,"tags":["a"]}'),
        ("{{ 5 | plus: 3 | minus: 1 | times: 2 }}", "14"),
        ('{{ list | join: ", " }}', "a, b"),
        ('{{ "aXbX" | replace: "X", "-" }}', "a-b-"),
    ],
)
def test_filters(source: str, expected: str) -> None:
    trigger = {
        "t": NOV_14_2023,
        "s": str(NOV_14_2023),
        "iso": "2023-11-14T10:30:00Z",
        "order": {"id": 7, "tags": ["a"]},
        "list": ["a", "b"],
    }
    source = source.replace("{{ t", "{{ trigger.t").replace("{{ s ", "{{ trigger.s ")
    for name in ("iso", "order", "list"):
        source = source.replace("{{ " + name, "{{ trigger." + name)
    assert render(source, trigger=trigger, now=NOV_14_2023) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('{{ 1 | date: "%Y", "Mars/Base" }}', "unknown time zone 'Mars/Base'"),
        ('{{ 1 | currency: "xx-nope" }}', "unknown locale 'xx-nope'"),
        ('{{ "abc" | currency }}', "currency expected a number"),
        ('{{ 1 | currency: "en-us", "ZZZ" }}', "unknown currency 'ZZZ'"),
        ("{{ 1 | nope }}", "unknown filter 'nope'"),
    ],
)
def test_filter_errors_are_400s(source: str, message: str) -> None:
    assert message in refused(source)


# --- errors --------------------------------------------------------------------


def test_syntax_error_names_template_field_and_line() -> None:
    with pytest.raises(ApiError) as caught:
        render_fields(
            {"subject": "ok", "body": "line one\nline two\n{% if %}\n"},
            Context(customer={}, trigger={}),
            template_name="welcome",
        )
    error = caught.value
    assert error.status == 400
    assert error.field == "body"
    assert error.message.startswith("template 'welcome', field 'body', line 3: ")


def test_render_error_names_the_line() -> None:
    message = refused("a\nb\n{{ 1 | divided_by: 0 }}")
    assert "line 3" in message


def test_unclosed_block_is_an_error() -> None:
    assert "field 'body'" in refused("{% for x in y %}never closed")


# --- limits --------------------------------------------------------------------


def fast(source: str, **context: Any) -> str:
    started = time.monotonic()
    message = refused(source, **context)
    assert time.monotonic() - started < liquid_filters.RENDER_SECONDS + 1.5
    return message


def test_template_size_limit() -> None:
    assert "longer than" in refused("x" * (MAX_TEMPLATE_CHARS + 1))


def test_loop_iteration_limit_counts_nested_loops() -> None:
    assert "loop iteration limit" in fast("{% for i in (1..1000000000) %}x{% endfor %}")
    nested = "{% for i in (1..1000) %}{% for j in (1..1000) %}x{% endfor %}{% endfor %}"
    assert "loop iteration limit" in fast(nested)


def test_output_limit() -> None:
    source = '{% for i in (1..100000) %}{{ "0123456789abcdefghij" }}{% endfor %}'
    assert "limit" in fast(source)


def test_doubling_a_string_is_stopped() -> None:
    source = '{% assign s = "xxxxxxxxxx" %}'
    source += "{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}"
    assert "field 'body'" in fast(source)


def test_replace_and_join_blow_ups_are_refused_before_they_allocate() -> None:
    cube = '{% assign s = "' + "x" * 80 + '" %}'
    cube += "{% for i in (1..3) %}{% assign s = s | replace: 'x', s %}{% endfor %}"
    assert "replace would produce" in fast(cube)
    assert "more than" in fast('{{ (1..1000000000) | join: "," }}')
    assert "more than" in fast("{{ (1..1000000000) | sort | first }}")


def test_squaring_a_number_in_a_loop_is_stopped_by_its_size() -> None:
    squared = "{% assign x = 3 %}{% for i in (1..100) %}{% assign x = x | times: x %}{% endfor %}"
    assert "a number has more than 300 digits" in refused(squared)


@pytest.mark.parametrize("math", ["times", "plus", "minus", "divided_by", "modulo", "at_least"])
def test_math_filters_refuse_numbers_past_300_digits(math: str) -> None:
    huge = "9" * 301
    assert "a number has more than 300 digits" in refused(f"{{{{ {huge} | {math}: 2 }}}}")
    assert "a number has more than 300 digits" in refused(f"{{{{ 2 | {math}: {huge} }}}}")
    assert render(f"{{{{ 1{'0' * 299} | {math}: 1 }}}}") != ""


def test_many_sequential_loops_hit_the_deadline() -> None:
    body = "{% if true %}{% endif %}" * 200
    loop = "{% for i in (1..100000) %}" + body + "{% endfor %}"
    assert "longer than" in fast(loop * 50)


def test_deep_nesting_is_refused() -> None:
    source = "{% if true %}" * 200 + "x" + "{% endif %}" * 200
    assert "nesting" in fast(source)


def test_the_deadline_is_reset_after_a_render() -> None:
    fast("{% for i in (1..1000000000) %}x{% endfor %}")
    assert liquid_filters.clock.deadline == float("inf")
    assert render("ok") == "ok"


def test_finding_a_lost_error_line_parses_at_most_one_largest_template(monkeypatch) -> None:
    """An unclosed block loses its position in Liquid and is found by parsing cut
    sources: a small one gets its line, and a 500 KB one costs at most one more
    parse of that size (not the twenty a whole search would take)."""
    parsed: list[int] = []
    fails_with = liquid_engine._fails_with

    def counted(source: str, message: str) -> bool:
        parsed.append(len(source))
        return fails_with(source, message)

    monkeypatch.setattr(liquid_engine, "_fails_with", counted)
    assert render_module.syntax_error("one\ntwo\n{% if x %}\nthree\n") == (
        "line 3: expected tag endif, found end of expression"
    )
    parsed.clear()
    line = "{{ a | upcase }} text {% if b %}x{% endif %}\n"
    large = line * 11_000 + "{% if x %}\n" + "plain\n" * 100
    assert len(large) <= MAX_TEMPLATE_CHARS
    assert render_module.syntax_error(large) == "expected tag endif, found end of expression"
    assert sum(parsed) <= MAX_TEMPLATE_CHARS
