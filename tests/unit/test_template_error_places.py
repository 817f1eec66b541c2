"""Errors at their place: `render.position` (a Liquid error's line and column) and
`layouts.origin` (a position in a body wrapped in its layout, moved back to the body
or the layout it came from)."""

from __future__ import annotations

from tidings.templates import layouts, render


def _problem(source: str) -> render.Problem:
    context = render.Context(customer={}, trigger={})
    _, [problem] = render.render_each({"body": source}, context)
    assert problem.field == "body"
    return problem


def test_a_syntax_error_has_its_line_and_column() -> None:
    source = "one\ntwo {{ customer.name | }}\nthree"
    context = render.Context(customer={}, trigger={})
    rendered, [problem] = render.render_each({"subject": "ok", "body": source}, context)
    assert rendered == {"subject": "ok"}  # the other field still renders
    assert problem.line == 2


def test_an_unknown_filter_has_its_line_and_column() -> None:
    source = "a\nb\n  {{ 1 | nope }}"
    problem = _problem(source)
    assert (problem.line, problem.column) == (3, source.splitlines()[2].index("nope") + 1)
    assert "nope" in problem.message


def test_an_unclosed_block_is_found_by_its_line() -> None:
    source = "a\n{% if x %}\nb\nc"
    problem = _problem(source)  # Liquid loses this one's position: the line is searched for
    assert (problem.line, problem.column) == (2, None)  # where the unclosed block opens


LAYOUT = "<html>\n<body>{{ content }}</body>\n</html>"


def test_a_position_in_the_body_moves_back_to_the_body() -> None:
    body = "one\ntwo\nthree"
    # wrapped: line 1 "<html>", line 2 "<body>one", line 3 "two", line 4 "three</body>"
    assert layouts.origin(LAYOUT, body, 2, 7) == ("body", 1, 1)
    assert layouts.origin(LAYOUT, body, 3, 2) == ("body", 2, 2)
    assert layouts.origin(LAYOUT, body, 4, 5) == ("body", 3, 5)


def test_a_position_in_the_layout_stays_in_the_layout() -> None:
    body = "one\ntwo"
    assert layouts.origin(LAYOUT, body, 1, 3) == ("layout", 1, 3)
    assert layouts.origin(LAYOUT, body, 2, 3) == ("layout", 2, 3)  # "<body>" before the body
    # "</body>" after the body's last line "two": column 4 of wrapped line 3
    place = LAYOUT.splitlines()[1].index("</body>") + 1
    assert layouts.origin(LAYOUT, body, 3, 4) == ("layout", 2, place)
    assert layouts.origin(LAYOUT, body, 4, 1) == ("layout", 3, 1)


def test_a_one_line_body_and_a_layout_without_content() -> None:
    single = "<p>{{ content }}</p>"
    assert layouts.origin(single, "abc", 1, 5) == ("body", 1, 2)
    assert layouts.origin(single, "abc", 1, 7) == ("layout", 1, single.index("</p>") + 1)
    assert layouts.origin("no place", "abc", 1, 2) == ("layout", 1, 2)
    assert layouts.origin(LAYOUT, "a\nb", 3, None) == ("body", 2, None)
