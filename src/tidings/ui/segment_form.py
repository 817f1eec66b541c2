"""The segment builder's form, pure: form fields to a tree of nodes, the tree to the
condition document the App API and `tidings apply` take, and back.

A node's inputs are named by its key: the root group is `c`, its children
`c.0`, `c.1`, theirs `c.1.0`, ...; an event's data tests are `c.0.w0`, `c.0.w1`.
Each node has a `kind` (`all`, `any`, `none`, `not_all` for groups;
`attribute`, `event`, `segment`, `device`, `relationship` for conditions) and
a leaf may be negated (`not`). The form never judges a condition itself: the
document it makes is checked by `conditions.parse`, and the parser's error
path (`segment.conditions.and[1].attribute.value`) is mapped back to the input
it came from (`paths`), so the message shows at that field.

Values: a number is written as one (`42`, `-2.5`) and compared as a number;
text in double quotes (`"42"`) is text only; `in` takes values separated by
commas; durations are `30 days` (or hours, minutes, seconds) or seconds.
`ui/segment_stored.py` turns a stored document back into a tree.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tidings.numbers import NUMBER_PATTERN
from tidings.segments.conditions import OPERATORS

ROOT = "c"
PATH = "segment.conditions"
GROUPS = {
    "all": ("and", False),
    "any": ("or", False),
    "none": ("or", True),
    "not_all": ("and", True),
}
LEAVES = ("attribute", "event", "segment", "device", "relationship")
LEAF_FIELDS = {
    "attribute": ("field", "operator", "value"),
    "event": ("type", "name", "min", "max", "within", "since", "until"),
    "segment": ("segment",),
    "device": ("platform",),
    "relationship": ("object_type_id", "object_id"),
}
TEST_FIELDS = ("field", "operator", "value")
NUMBER = re.compile(NUMBER_PATTERN)
_DURATION = re.compile(r"\s*([0-9]+)\s*(second|minute|hour|day)s?\s*", re.IGNORECASE)


@dataclass
class Node:
    """One group or condition of the builder, with its inputs' text as typed."""

    key: str
    kind: str
    negate: bool = False
    values: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    tests: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.kind in GROUPS

    @property
    def label(self) -> str:
        """`Condition 2.1` for `c.1.0`; `Conditions` for the root."""
        parts = self.key.split(".")[1:]
        return "Condition " + ".".join(str(int(p) + 1) for p in parts) if parts else "Conditions"

    def get(self, name: str) -> str:
        return self.values.get(name, "")


def blank(kind: str = "attribute", key: str = ROOT) -> Node:
    """A new node: a group holds one blank attribute condition."""
    node = Node(key, kind)
    if kind == "attribute":
        node.values["operator"] = "eq"
    if kind in GROUPS:
        node.children.append(blank("attribute", f"{key}.0"))
    return node


# -- form fields <-> nodes --------------------------------------------------------


def from_form(form: dict[str, str], key: str = ROOT) -> Node:
    """The tree the posted form holds under `key` (a missing root: a blank group)."""
    kind = form.get(f"{key}.kind", "")
    if kind not in GROUPS and kind not in LEAVES:
        return blank("all", key) if key == ROOT else blank("attribute", key)
    node = Node(key, kind, negate=form.get(f"{key}.not") == "1")
    if node.is_group:
        node.children = [from_form(form, child) for child in _numbered(form, key, "")]
        return node
    node.values = {name: form.get(f"{key}.{name}", "") for name in LEAF_FIELDS[kind]}
    if kind == "event":
        node.tests = [
            {name: form.get(f"{test}.{name}", "") for name in TEST_FIELDS}
            for test in _numbered(form, key, "w")
        ]
    return node


def _numbered(form: dict[str, str], key: str, prefix: str) -> list[str]:
    """Keys `key.<prefix><n>` present in the form (by a `kind` or `field` input), by n."""
    pattern = re.compile(re.escape(f"{key}.{prefix}") + r"([0-9]{1,4})\.(kind|field)$")
    found = {int(m.group(1)) for name in form if (m := pattern.match(name))}
    return [f"{key}.{prefix}{n}" for n in sorted(found)]


def rekey(node: Node, key: str = ROOT) -> Node:
    """The same tree with dense keys (after nodes were added or removed)."""
    node.key = key
    for n, child in enumerate(node.children):
        rekey(child, f"{key}.{n}")
    return node


def find(node: Node, key: str) -> Node | None:
    if node.key == key:
        return node
    for child in node.children:
        found = find(child, key)
        if found is not None:
            return found
    return None


def apply_action(root: Node, action: str) -> Node:
    """Change the tree as a builder button asks (`add:c.1`, `group:c`, `remove:c.0`,
    `add-test:c.0`, `remove-test:c.0.w1`); an unknown action or key changes nothing."""
    verb, _, key = action.partition(":")
    if verb == "remove-test":
        owner, _, test = key.rpartition(".w")
        node = find(root, owner)
        if node is not None and test.isdigit() and int(test) < len(node.tests):
            del node.tests[int(test)]
        return rekey(root)
    node = find(root, key)
    if node is None:
        return root
    if verb in ("add", "group") and node.is_group:
        node.children.append(blank("attribute" if verb == "add" else "any", f"{key}.x"))
    elif verb == "remove" and key != ROOT:
        parent = find(root, key.rpartition(".")[0])
        if parent is not None:
            parent.children = [child for child in parent.children if child.key != key]
    elif verb == "add-test" and node.kind == "event":
        node.tests.append({"field": "", "operator": "eq", "value": ""})
    return rekey(root)


# -- nodes -> condition document ----------------------------------------------------


def to_condition(root: Node) -> tuple[Any, dict[str, str]]:
    """The condition document of the tree, and where each node's part sits in it
    (the parser's error path of a node -> its key). A root group of one condition,
    neither negated, is that condition alone."""
    paths: dict[str, str] = {}
    if root.kind == "all" and not root.negate and len(root.children) == 1:
        return _document(root.children[0], PATH, paths), paths
    return _document(root, PATH, paths), paths


def _document(node: Node, path: str, paths: dict[str, str]) -> Any:
    if node.is_group:
        operator, negated = GROUPS[node.kind]
    else:
        operator, negated = node.kind, node.negate
    inner = f"{path}.not" if negated else path
    paths[inner] = node.key
    if node.is_group:
        body: Any = [
            _document(child, f"{inner}.{operator}[{n}]", paths)
            for n, child in enumerate(node.children)
        ]
    else:
        body = _leaf(node, f"{inner}.{operator}", paths)
    document = {operator: body}
    return {"not": document} if negated else document


def _leaf(node: Node, path: str, paths: dict[str, str]) -> dict[str, Any]:
    if node.kind == "attribute":
        return _test(node.values)
    if node.kind == "segment":
        return {"id": _integer(node.get("segment"))}
    if node.kind == "event":
        for n in range(len(node.tests)):
            paths[f"{path}.where[{n}]"] = f"{node.key}.w{n}"
        return _event(node)
    return {name: node.get(name) for name in LEAF_FIELDS[node.kind] if node.get(name).strip()}


def _event(node: Node) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if node.get("name"):
        body["name"] = node.get("name")
    if node.get("type") not in ("", "event"):
        body["type"] = node.get("type")
    if node.tests:
        body["where"] = [_test(test) for test in node.tests]
    count = {op: _integer(node.get(name)) for op, name in (("gte", "min"), ("lte", "max"))}
    count = {op: value for op, value in count.items() if value != ""}
    if count:
        body["count"] = count
    if node.get("within").strip():
        body["within_last"] = duration(node.get("within"))
    if node.get("since").strip() or node.get("until").strip():
        body["between"] = [_date(node.get("since")), _date(node.get("until"))]
    return body


def _test(values: dict[str, str]) -> dict[str, Any]:
    operator = values.get("operator", "")
    test: dict[str, Any] = {"field": values.get("field", ""), "operator": operator}
    text = values.get("value", "")
    if operator == "exists" or operator not in OPERATORS:
        return test
    if operator == "in":
        test["value"] = [value(item) for item in split_list(text)]
    elif operator == "within_last":
        test["value"] = duration(text)
    elif operator in ("contains", "starts_with"):
        test["value"] = _quoted(text) if is_quoted(text) else text
    else:
        test["value"] = value(text)
    return test


def value(text: str) -> Any:
    """A typed value: `"..."` is that text, a number is a number, anything else is text."""
    if is_quoted(text):
        return _quoted(text)
    stripped = text.strip()
    if NUMBER.fullmatch(stripped):
        return json.loads(stripped)
    return text


def is_quoted(text: str) -> bool:
    stripped = text.strip()
    if len(stripped) < 2 or not (stripped.startswith('"') and stripped.endswith('"')):
        return False
    try:
        return isinstance(json.loads(stripped), str)
    except ValueError:
        return False


def _quoted(text: str) -> str:
    parsed: str = json.loads(text.strip())
    return parsed


def split_list(text: str) -> list[str]:
    """Comma-separated items; an item in double quotes may hold commas."""
    items: list[str] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"'):
            decoder = json.JSONDecoder()
            try:
                _, end = decoder.raw_decode(rest)
            except ValueError:
                end = len(rest)
            items.append(rest[:end])
            rest = rest[end:].lstrip().removeprefix(",").lstrip()
            continue
        item, _, rest = rest.partition(",")
        items.append(item.strip())
        rest = rest.lstrip()
    return items


def duration(text: str) -> Any:
    """`30 days` as `{"days": 30}`, digits as seconds; anything else as typed (the
    parser then names the field)."""
    match = _DURATION.fullmatch(text)
    if match:
        return {match.group(2).lower() + "s": int(match.group(1))}
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else text


def _integer(text: str) -> Any:
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else stripped


def _date(text: str) -> Any:
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else stripped


# -- errors at their field --------------------------------------------------------------


def error_input(error_path: str, paths: dict[str, str]) -> str | None:
    """The input (`c.1.value`, `c.0.w0.field`) a parser error path points at, or the
    node's key when it names no input of it; None when it is outside the tree."""
    for path in sorted(paths, key=len, reverse=True):
        if error_path == path or error_path.startswith(path + "."):
            key = paths[path]
            rest = error_path[len(path) + 1 :].split(".")
            if ".w" in key and rest[0]:  # an event's data test: `field`, `operator`, `value...`
                return f"{key}.{rest[0].split('[')[0]}"
            named = _input_of(rest)
            return f"{key}.{named}" if named else key
    return None


_EVENT_INPUTS = {"gte": "min", "lte": "max", "count": "min", "within_last": "within"}


def _input_of(rest: list[str]) -> str:
    """The input named by what follows a node's path, e.g. ["attribute", "value[2]"]."""
    if len(rest) < 2:
        return ""
    name = re.sub(r"\[[0-9]+\]$", "", rest[1])
    if rest[0] == "segment":
        return "segment"
    if name in TEST_FIELDS or name in ("platform", "object_type_id", "object_id", "name", "type"):
        return name
    if name == "count" and len(rest) > 2:
        return _EVENT_INPUTS.get(rest[2], "min")
    if name == "between":
        return "until" if rest[1].endswith("[1]") else "since"
    return _EVENT_INPUTS.get(name, "")
