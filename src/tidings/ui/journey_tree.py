"""A campaign's workflow as the pages draw it (pure): a vertical tree of steps, each with
its kind, a one-line summary ("Email: Welcome", "Delay 1 day", "Wait until purchased
or 3 days") and its counts, branches and splits holding their paths nested.

The workflow is the document `GET /v1/campaigns/{id}` shows (`workflow`), its steps
named by `key`; `ids` maps each key to its action id, which the counts are keyed by.
Conditions are put in words briefly ("plan is pro", "did purchased"); the full
condition is the document's, which the page also offers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings.campaigns.definitions import MESSAGE_TYPES

KINDS = {
    "email": "Email",
    "sms": "SMS",
    "push": "Push",
    "in_app": "In-app",
    "inbox": "Inbox",
    "whatsapp": "WhatsApp",
    "webhook": "Webhook",
    "delay": "Delay",
    "wait_until": "Wait until",
    "time_window": "Time window",
    "at_local": "Wait for a time",
    "branch": "True/false branch",
    "split": "Multi-split",
    "random": "Random split",
    "update": "Update attributes",
    "exit": "Exit",
}
_TITLES = {"email": "subject", "push": "title", "in_app": "title", "inbox": "title"}
_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
_OPERATORS = {
    "eq": "is",
    "neq": "is not",
    "exists": "exists",
    "not_exists": "does not exist",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "contains": "contains",
    "starts_with": "starts with",
}


@dataclass
class Path:
    label: str
    steps: list[Step]


@dataclass
class Step:
    action_id: int | None
    kind: str
    type: str
    summary: str
    name: str = ""
    message: bool = False
    sending_state: str = ""
    paths: list[Path] = field(default_factory=list)


def build(workflow: list[dict[str, Any]], ids: dict[str, int]) -> list[Step]:
    """The steps of a workflow (and, nested, of its paths)."""
    return [_step(shown, ids) for shown in workflow]


def each(steps: list[Step]) -> list[Step]:
    """Every step of the tree, depth first."""
    found: list[Step] = []
    for step in steps:
        found.append(step)
        for path in step.paths:
            found.extend(each(path.steps))
    return found


def _step(shown: dict[str, Any], ids: dict[str, int]) -> Step:
    kind = next(k for k in shown if k in KINDS)
    body = shown[kind]
    step = Step(
        ids.get(shown.get("key", "")),
        KINDS[kind],
        kind,
        summary(kind, body),
        name=_own_name(shown.get("name") or "", kind),
        message=kind in MESSAGE_TYPES,
        sending_state=shown.get("sending_state") or "",
    )
    if kind == "branch":
        step.paths = [
            Path("If true", build(body.get("then", []), ids)),
            Path("Otherwise", build(body.get("else", []), ids)),
        ]
    elif kind == "split":
        step.paths = [
            Path(f"If {condition_words(p['if'])}", build(p.get("steps", []), ids))
            for p in body.get("paths", [])
        ] + [Path("Otherwise", build(body.get("else", []), ids))]
    elif kind == "random":
        step.paths = [
            Path(f"{p['percent']}% of people", build(p.get("steps", []), ids))
            for p in body.get("paths", [])
        ]
    elif kind == "wait_until" and body.get("on_timeout"):
        step.paths = [Path("When the time runs out", build(body["on_timeout"], ids))]
    return step


def summary(kind: str, body: Any) -> str:
    """A step's one line: "Email: <subject>", "Delay 1 day", ..."""
    label = KINDS[kind]
    if kind in _TITLES:
        return f"{label}: {body.get(_TITLES[kind]) or '(no ' + _TITLES[kind] + ')'}"
    if kind in ("sms", "whatsapp"):
        return f"{label}: {_cut(body.get('body') or '')}"
    if kind == "webhook":
        return f"{label}: {(body.get('method') or 'post').upper()} {_cut(body.get('url') or '')}"
    if kind == "delay":
        return f"Delay {duration(int(body))}"
    if kind == "wait_until":
        until = [condition_words(body["condition"])] if body.get("condition") else []
        if body.get("event"):
            until.append(body["event"].get("name", "an event"))
        if body.get("timeout") is not None:
            until.append(duration(int(body["timeout"])))
        return "Wait until " + " or ".join(until)
    if kind == "time_window":
        return f"Wait until between {body['start']} and {body['end']} ({body['timezone']})"
    if kind == "at_local":
        return f"Wait until {body['time']} ({body['timezone']})"
    if kind == "branch":
        return f"If {condition_words(body.get('if'))}"
    if kind == "split":
        return f"{label} in {len(body.get('paths', [])) + 1} paths"
    if kind == "random":
        return f"{label} in {len(body.get('paths', []))} paths"
    if kind == "update":
        return f"Set {', '.join(sorted(body.get('attributes', {})))}"
    return "Exit the campaign"


def duration(seconds: int) -> str:
    """`1 day`, `1 day 12 hours`, `90 seconds` is `1 minute 30 seconds`."""
    if seconds == 0:
        return "0 seconds"
    parts = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount} {unit}{'' if amount == 1 else 's'}")
    return " ".join(parts)


def condition_words(condition: Any) -> str:
    """A condition in a few words (its document is shown beside it where it matters)."""
    if not isinstance(condition, dict) or len(condition) != 1:
        return "a condition"
    ((kind, body),) = condition.items()
    if kind in ("and", "or") and isinstance(body, list):
        joined = f" {kind} ".join(condition_words(part) for part in body)
        return f"({joined})" if len(body) > 1 else joined
    if kind == "not":
        return f"not {condition_words(body)}"
    if not isinstance(body, dict):
        return "a condition"
    if kind == "attribute":
        operator = _OPERATORS.get(body.get("operator", ""), body.get("operator", ""))
        value = f" {body['value']}" if "value" in body else ""
        return f"{body.get('field')} {operator}{value}"
    if kind == "event":
        return f"did {body.get('name')}"
    if kind == "segment":
        return f"in segment {body.get('id')}"
    return f"a {kind} condition"


def trigger_words(definition: dict[str, Any]) -> str:
    """A campaign's trigger in words ("When someone performs signed_up")."""
    trigger = definition.get("trigger") or {}
    if "event" in trigger:
        where = " (with conditions on its data)" if trigger["event"].get("where") else ""
        return f"When someone performs {trigger['event'].get('name')}{where}"
    if "segment" in trigger:
        verb = "leaves" if trigger["segment"].get("on") == "exit" else "enters"
        return f"When someone {verb} segment {trigger['segment'].get('id')}"
    if "attribute" in trigger:
        to = f" to {trigger['attribute']['to']}" if "to" in trigger["attribute"] else ""
        return f"When someone's {trigger['attribute'].get('field')} changes{to}"
    if "date" in trigger:
        date = trigger["date"]
        return (
            f"On the date in {date.get('attribute')} ({date.get('frequency')}, at {date.get('at')})"
        )
    return "Triggered through the API"


def _own_name(name: str, kind: str) -> str:
    """A step's name, unless it only repeats its kind (the default name is the type)."""
    plain = name.strip().lower().replace("_", " ")
    return "" if plain in (kind.replace("_", " "), KINDS[kind].lower()) else name


def _cut(text: str, size: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"
