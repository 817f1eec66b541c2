"""A stored condition document as the segment builder's tree (`ui/segment_form.py`).

The tree shows each value so that the form reads it back as the same value
(`value_text`): text that spells a number, or that has outer spaces, is shown
in double quotes; `in` lists are joined with commas. Documents the form writes
another way come back with the same meaning: `page_view` as an event of type
`page`, `not` of `not` as the condition itself, `true` as the text "true".
"""

from __future__ import annotations

import json
from typing import Any

from tidings.ui.segment_form import NUMBER, ROOT, Node, is_quoted, rekey


def from_condition(document: Any) -> Node:
    """The builder's tree for a stored (valid) condition; the root is always a group."""
    node = _node(document, ROOT)
    if not node.is_group:
        root = Node(ROOT, "all", children=[node])
        return rekey(root)
    return rekey(node)


def _node(document: Any, key: str) -> Node:
    ((operator, body),) = document.items()
    if operator == "not":
        inner = _node(body, key)
        if inner.is_group:
            flipped = {"all": "not_all", "any": "none", "none": "any", "not_all": "all"}
            inner.kind = flipped[inner.kind]
        else:
            inner.negate = not inner.negate
        return inner
    if operator in ("and", "or"):
        children = [_node(item, f"{key}.{n}") for n, item in enumerate(body)]
        return Node(key, "all" if operator == "and" else "any", children=children)
    if operator == "attribute":
        return Node(key, "attribute", values=_test_text(body))
    if operator == "segment":
        return Node(key, "segment", values={"segment": str(body.get("id", ""))})
    if operator in ("event", "page_view"):
        return _event_node(body, key, "page" if operator == "page_view" else None)
    return Node(key, operator, values={k: str(v) for k, v in body.items()})


def _event_node(body: dict[str, Any], key: str, kind: str | None) -> Node:
    count = body.get("count") or {}
    between = body.get("between") or ["", ""]
    values = {
        "type": kind or body.get("type", "event"),
        "name": body.get("name", ""),
        "min": str(count.get("gte", "")),
        "max": str(count.get("lte", "")),
        "within": duration_text(body["within_last"]) if "within_last" in body else "",
        "since": str(between[0]),
        "until": str(between[1]),
    }
    tests = [_test_text(test) for test in body.get("where") or []]
    return Node(key, "event", values=values, tests=tests)


def _test_text(test: dict[str, Any]) -> dict[str, str]:
    operator = test.get("operator", "")
    raw = test.get("value")
    if operator == "exists" or raw is None:
        shown = ""
    elif operator == "in" and isinstance(raw, list):
        shown = ", ".join(value_text(item, in_list=True) for item in raw)
    elif operator == "within_last":
        shown = duration_text(raw)
    elif operator in ("contains", "starts_with") and isinstance(raw, str):
        shown = json.dumps(raw) if raw != raw.strip() or is_quoted(raw) else raw
    else:
        shown = value_text(raw)
    return {"field": test.get("field", ""), "operator": operator, "value": shown}


def value_text(raw: Any, in_list: bool = False) -> str:
    """How `value` shows a stored value, so that reading it back gives the same value."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return json.dumps(raw)
    text = str(raw)
    plain = (
        not NUMBER.fullmatch(text.strip())
        and text == text.strip()
        and not text.startswith('"')
        and not (in_list and ("," in text or text == ""))
    )
    return text if plain else json.dumps(text)


def duration_text(raw: Any) -> str:
    if isinstance(raw, dict) and len(raw) == 1:
        ((unit, amount),) = raw.items()
        return f"{amount} {unit}"
    return str(raw)
