"""A saved campaign written back as the document `definitions.parse` reads (pure).

The stored definition is normalised (durations in seconds, `frequency` as
`{"mode": ...}`, a date trigger's time as hour and minute) and the workflow is
rows linked by `next_id`, `parent_action_id` and each branching action's
`paths`. `definition` and `workflow` turn them back into the document's
form, so what the App API shows can be sent back unchanged (`PUT` round
trips) and `tidings apply` can compare a file with what is saved by parsing
both. Every step is written with its `key`, so a round trip keeps its
action ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tidings.campaigns.definitions import MESSAGE_TYPES, WEEKDAYS

# action id -> language -> fields, as `store.contents_of` gives them
Contents = Mapping[int, Mapping[str, Mapping[str, str]]]


def definition(kind: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The document's trigger (or audience), filters, frequency, exit_when and goal."""
    shown: dict[str, Any] = {}
    if kind == "campaign":
        shown["trigger"] = _trigger(stored["trigger"])
        shown["frequency"] = _frequency(stored.get("frequency", {"mode": "once"}))
    elif stored.get("audience") is not None:
        shown["audience"] = stored["audience"]
    for name in ("filters", "exit_when", "goal"):
        if stored.get(name) is not None:
            shown[name] = stored[name]
    return shown


def _trigger(trigger: dict[str, Any]) -> dict[str, Any]:
    if "date" not in trigger:
        return trigger
    date = trigger["date"]
    return {
        "date": {
            "attribute": date["attribute"],
            "frequency": date["frequency"],
            "offset": {"days": date["offset_days"]},
            "at": clock(date["hour"], date["minute"]),
            "timezone": date["timezone"],
            "fallback_timezone": date["fallback_timezone"],
        }
    }


def _frequency(frequency: dict[str, Any]) -> Any:
    if frequency["mode"] == "once":
        return "once"
    return {"every": frequency["gap"]} if frequency.get("gap") else "every_time"


def clock(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def workflow(actions: list[Any], contents: Contents) -> list[Any]:
    """The workflow's steps from a campaign's current action rows (`store.action_rows`,
    in workflow order) and the contents of its message actions."""
    by_id = {row.id: row for row in actions}
    settings = {row.id: msgspec.json.decode(row.settings) for row in actions}
    builder = _Builder(by_id, settings, contents)
    first = actions[0].id if actions else None
    return builder.chain(first, None)


class _Builder:
    def __init__(
        self, by_id: dict[int, Any], settings: dict[int, dict[str, Any]], contents: Contents
    ) -> None:
        self.by_id = by_id
        self.settings = settings
        self.contents = contents

    def chain(self, head: int | None, parent: int | None) -> list[Any]:
        """The steps from `head` along `next_id` while they sit in `parent`'s path."""
        steps: list[Any] = []
        current = head
        while current in self.by_id and len(steps) <= len(self.by_id):
            row = self.by_id[current]
            if row.parent_action_id != parent:
                break
            steps.append(self.step(row))
            current = row.next_id
        return steps

    def step(self, row: Any) -> dict[str, Any]:
        shown: dict[str, Any] = {"key": row.key, "name": row.name}
        if row.type in MESSAGE_TYPES:
            shown["sending_state"] = row.sending_state
        shown[row.type] = self.body(row)
        return shown

    def body(self, row: Any) -> Any:
        settings = self.settings[row.id]
        paths = [self.chain(head, row.id) for head in settings.get("paths", [])]
        if row.type == "webhook":
            return _webhook(self.contents.get(row.id, {}).get("", {}))
        if row.type in MESSAGE_TYPES:
            return _message(self.contents.get(row.id, {}))
        if row.type == "exit":
            return {}
        if row.type == "delay":
            return settings["seconds"]
        if row.type == "wait_until":
            return _wait_until(settings, paths[0] if paths else [])
        if row.type == "time_window":
            return _window(settings)
        if row.type == "at_local":
            return _at_local(settings)
        if row.type == "update":
            return {"attributes": settings["attributes"]}
        return _branching(row.type, settings, paths)


def _message(contents: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    body: dict[str, Any] = dict(contents.get("", {}))
    languages = {lang: dict(fields) for lang, fields in contents.items() if lang}
    if languages:
        body["languages"] = languages
    return body


def _webhook(fields: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {k: v for k, v in fields.items() if k != "headers"}
    if fields.get("headers"):
        body["headers"] = msgspec.json.decode(fields["headers"])
    return body


def _wait_until(settings: dict[str, Any], on_timeout: list[Any]) -> dict[str, Any]:
    body = {k: settings[k] for k in ("condition", "event", "timeout") if k in settings}
    if on_timeout and "timeout" in body:
        body["on_timeout"] = on_timeout
    return body


def _window(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "days": _days(settings["days"]),
        "start": clock(*divmod(settings["start"], 60)),
        "end": clock(*divmod(settings["end"], 60)),
        "timezone": settings["timezone"],
        "fallback_timezone": settings["fallback_timezone"],
    }


def _at_local(settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": clock(settings["hour"], settings["minute"]),
        "days": _days(settings["days"]),
        "timezone": settings["timezone"],
        "fallback_timezone": settings["fallback_timezone"],
    }


def _days(days: list[int]) -> list[str]:
    return [WEEKDAYS[day] for day in days]


def _branching(kind: str, settings: dict[str, Any], paths: list[list[Any]]) -> dict[str, Any]:
    if kind == "branch":
        return {"if": settings["if"], "then": paths[0], "else": paths[1]}
    if kind == "split":
        tests = settings["if"]
        shown = [{"if": test, "steps": steps} for test, steps in zip(tests, paths, strict=False)]
        return {"paths": shown, "else": paths[len(tests)]}
    return {
        "paths": [
            {"percent": percent, "steps": steps}
            for percent, steps in zip(settings["percents"], paths, strict=True)
        ]
    }


def segment_ids(value: Any) -> list[int]:
    """The ids of the segments a condition (or any JSON holding conditions) names with
    `{"segment": {"id": n}}`, sorted."""
    found: set[int] = set()
    _collect(value, found)
    return sorted(found)


def _collect(value: Any, found: set[int]) -> None:
    if isinstance(value, dict):
        ref = value.get("segment")
        if isinstance(ref, dict):
            segment_id = ref.get("id")
            if isinstance(segment_id, int) and not isinstance(segment_id, bool):
                found.add(segment_id)
        for item in value.values():
            _collect(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found)
