"""Campaigns and broadcasts as the App API and `tidings apply` give them (pure).

One document describes a campaign: its trigger, who may enter, how often,
when they leave, its goal, and its workflow, a list of steps in which
branches hold lists of their own. `docs/campaigns.md` is the user's
description; in short:

    name: Welcome                      kind: campaign (default) | broadcast
    state: draft | running | stopped   (default draft)
    trigger:                           exactly one (campaigns only)
      event: {name: signed_up, where: [test, ...]}
      segment: {id: 12, on: enter | exit}
      attribute: {field: plan, to?: value}
      date: {attribute: renewal_at, frequency: once | monthly | yearly,
             offset?: duration (negative: before), at?: "09:00",
             timezone?: IANA name | customer, fallback_timezone?: IANA name}
    filters: condition                 checked on entry and before each message
    frequency: once | every_time | {every: duration}
    exit_when: condition               leave as soon as it holds
    goal: {event: {name, where?}, within?: duration, exit?: bool}
    send_rate: {messages: n, per?: duration (default 1 second)}
    quiet_hours: {start: "21:00", end: "08:00", timezone?, fallback_timezone?}
    subscription_topic_id: n           its messages reach only people in that topic
    audience: condition                broadcasts: who a trigger without one reaches
    workflow: [step, ...]

    step := {email | sms | push | in_app | inbox | whatsapp:
                {fields..., languages?: {lang: {fields}}}}
          | {webhook: {url, method?, headers?: {name: value}, body?}}
          | {delay: duration}
          | {wait_until: {condition?: condition, event?: {name, where?}, timeout?: duration,
                          on_timeout?: [step, ...]}}
          | {time_window: {days?, start, end, timezone?, fallback_timezone?}}
          | {at_local: {time: "09:00", days?, timezone?, fallback_timezone?}}
          | {branch: {if: condition, then?: [step, ...], else?: [step, ...]}}
          | {split: {paths: [{if: condition, steps: [step, ...]}, ...], else?: [step, ...]}}
          | {random: {paths: [{percent: n, steps: [step, ...]}, ...]}}
          | {update: {attributes: {name: value, ...}}}
          | exit

Every step may also hold `key` (a stable name, kept across edits; default:
its position, such as `2` or `3.else.0`), `name` and, for messages,
`sending_state` (`automatic`, the default here, `draft` or `off`). Durations
are seconds or `{weeks|days|hours|minutes|seconds: n, ...}`. After a branch's
path ends, the journey goes on with the step after the branch.

Every function raises `ApiError` 400 naming the path of the part at fault.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.errors import ApiError, bad_request
from tidings.segments import conditions
from tidings.templates import checks
from tidings.templates.definitions import DESIGN_STUDIO_FIELD, FIELDS

KINDS = ("campaign", "broadcast")
STATES = ("draft", "running", "stopped")
MESSAGE_TYPES = ("email", "sms", "push", "in_app", "inbox", "whatsapp", "webhook")
WAIT_TYPES = ("delay", "wait_until", "time_window", "at_local")
BRANCH_TYPES = ("branch", "split", "random")
STEP_TYPES = (*MESSAGE_TYPES, *WAIT_TYPES, *BRANCH_TYPES, "update", "exit")
SENDING_STATES = ("automatic", "draft", "off")
TRIGGERS = ("event", "segment", "attribute", "date")
WEBHOOK_METHODS = ("get", "post", "put", "delete", "patch")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_STEPS = 200
MAX_RANDOM_PATHS = 20
MAX_GOAL_WINDOW = 90 * 86400
MAX_DURATION = 5 * 365 * 86400
MAX_NAME_CHARS = 255
_UNITS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
WEBHOOK_FIELDS = ("url", "method", "headers", "body")


@dataclass(frozen=True)
class Step:
    """One workflow item. `settings` is its type's JSON (durations in seconds,
    conditions as given); `contents` a message's fields per language ("" the
    default); `paths` the step lists a branching item leads to, in order."""

    key: str
    type: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    sending_state: str | None = None
    contents: tuple[tuple[str, dict[str, str]], ...] = ()
    paths: tuple[tuple[Step, ...], ...] = ()


@dataclass(frozen=True)
class Campaign:
    """A campaign or broadcast as defined: everything but ids and times.

    `definition` is the normalised JSON stored with it (trigger, filters,
    frequency, exit_when, goal, audience); `trigger_kind` and `event_name`
    are what entry is looked up by.
    """

    kind: str
    name: str
    description: str
    state: str
    tags: tuple[str, ...]
    trigger_kind: str
    event_name: str | None
    definition: dict[str, Any]
    workflow: tuple[Step, ...]


def parse(body: Any, path: str = "campaign", *, kind: str | None = None) -> Campaign:
    """A campaign document; `kind` forces the kind (the broadcast routes)."""
    item = _mapping(body, path)
    _known(item, path, _CAMPAIGN_KEYS)
    kind = kind or item.get("kind", "campaign")
    if kind not in KINDS:
        raise _bad(f"kind must be one of: {', '.join(KINDS)}", f"{path}.kind")
    state = item.get("state", "draft")
    if state not in STATES:
        raise _bad(f"state must be one of: {', '.join(STATES)}", f"{path}.state")
    definition: dict[str, Any] = {}
    if kind == "campaign":
        trigger_kind, event_name, definition["trigger"] = _trigger(
            item.get("trigger"), f"{path}.trigger"
        )
        definition["frequency"] = _frequency(item.get("frequency"), f"{path}.frequency")
    else:
        if item.get("trigger") is not None:
            raise _bad("a broadcast is triggered through the API, not by a trigger", path)
        trigger_kind, event_name = "api", None
        definition["audience"] = _condition(item.get("audience"), f"{path}.audience")
    definition["filters"] = _condition(item.get("filters"), f"{path}.filters")
    definition["exit_when"] = _condition(item.get("exit_when"), f"{path}.exit_when")
    definition["goal"] = _goal(item.get("goal"), f"{path}.goal")
    definition["send_rate"] = parse_send_rate(item.get("send_rate"), f"{path}.send_rate")
    definition["quiet_hours"] = parse_quiet_hours(item.get("quiet_hours"), f"{path}.quiet_hours")
    topic = item.get("subscription_topic_id")
    if topic is not None:
        definition["subscription_topic_id"] = _positive(topic, f"{path}.subscription_topic_id")
    workflow = _steps(item.get("workflow"), f"{path}.workflow", "")
    _check_unique_keys(workflow, f"{path}.workflow")
    return Campaign(
        kind=kind,
        name=_text(item.get("name"), f"{path}.name", required=True),
        description=_text(item.get("description"), f"{path}.description", limit=10_000),
        state=state,
        tags=_tags(item.get("tags"), f"{path}.tags"),
        trigger_kind=trigger_kind,
        event_name=event_name,
        definition={k: v for k, v in definition.items() if v is not None},
        workflow=workflow,
    )


_CAMPAIGN_KEYS = (
    "kind",
    "name",
    "description",
    "state",
    "tags",
    "trigger",
    "filters",
    "frequency",
    "exit_when",
    "goal",
    "audience",
    "send_rate",
    "quiet_hours",
    "subscription_topic_id",
    "workflow",
)


# --- trigger, frequency, goal ----------------------------------------------------------


def _trigger(value: Any, path: str) -> tuple[str, str | None, dict[str, Any]]:
    kind, body = _single(value, path, TRIGGERS)
    where = f"{path}.{kind}"
    if kind == "event":
        event = _event_spec(body, where)
        return kind, event["name"], {"event": event}
    if kind == "segment":
        spec = _mapping(body, where)
        _known(spec, where, ("id", "on"))
        on = spec.get("on", "enter")
        if on not in ("enter", "exit"):
            raise _bad("on must be enter or exit", f"{where}.on")
        return kind, None, {"segment": {"id": _positive(spec.get("id"), f"{where}.id"), "on": on}}
    if kind == "attribute":
        spec = _mapping(body, where)
        _known(spec, where, ("field", "to"))
        name = _text(spec.get("field"), f"{where}.field", required=True)
        shown: dict[str, Any] = {"field": name}
        if "to" in spec:
            conditions.parse(
                {"attribute": {"field": name, "operator": "eq", "value": spec["to"]}}, where
            )
            shown["to"] = spec["to"]
        return kind, None, {"attribute": shown}
    return kind, None, {"date": _date_trigger(body, where)}


def _event_spec(body: Any, path: str) -> dict[str, Any]:
    """`{name, where?}`: a named event whose data passes the tests."""
    spec = _mapping(body, path)
    _known(spec, path, ("name", "where"))
    name = _text(spec.get("name"), f"{path}.name", required=True)
    shown: dict[str, Any] = {"name": name}
    if spec.get("where") is not None:
        conditions.parse({"event": {"name": name, "where": spec["where"]}}, path)
        shown["where"] = spec["where"]
    return shown


def _date_trigger(body: Any, path: str) -> dict[str, Any]:
    spec = _mapping(body, path)
    _known(spec, path, ("attribute", "frequency", "offset", "at", "timezone", "fallback_timezone"))
    frequency = spec.get("frequency", "once")
    if frequency not in ("once", "monthly", "yearly"):
        raise _bad("frequency must be once, monthly or yearly", f"{path}.frequency")
    offset = spec.get("offset", 0)
    seconds = _duration(offset, f"{path}.offset", signed=True)
    if seconds % 86400:
        raise _bad("offset must be whole days", f"{path}.offset")
    hour, minute = _clock(spec.get("at", "00:00"), f"{path}.at")
    return {
        "attribute": _text(spec.get("attribute"), f"{path}.attribute", required=True),
        "frequency": frequency,
        "offset_days": seconds // 86400,
        "hour": hour,
        "minute": minute,
        "timezone": _zone_name(spec.get("timezone", "UTC"), f"{path}.timezone"),
        "fallback_timezone": _zone_name(spec.get("fallback_timezone", "UTC"), path),
    }


def _frequency(value: Any, path: str) -> dict[str, Any]:
    """`once` (the default), `every_time`, or `{"every": duration}`: every time, at
    least that long after the person's previous entry."""
    if value is None or value == "once":
        return {"mode": "once"}
    if value == "every_time":
        return {"mode": "every_time", "gap": 0}
    if isinstance(value, dict) and set(value) == {"every"}:
        return {"mode": "every_time", "gap": _duration(value["every"], f"{path}.every")}
    raise _bad('must be once, every_time or {"every": duration}', path)


def _goal(value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = _mapping(value, path)
    _known(spec, path, ("event", "within", "exit"))
    within = _duration(spec.get("within", MAX_GOAL_WINDOW), f"{path}.within")
    if within > MAX_GOAL_WINDOW:
        raise _bad("within must be at most 90 days", f"{path}.within")
    leave = spec.get("exit", True)
    if not isinstance(leave, bool):
        raise _bad("exit must be a boolean", f"{path}.exit")
    return {
        "event": _event_spec(spec.get("event"), f"{path}.event"),
        "within": within,
        "exit": leave,
    }


def parse_send_rate(value: Any, path: str) -> dict[str, int] | None:
    """`{messages: n, per: duration}`: at most n messages in any window of `per`
    (default one second), held by the delivery worker (`sending/rates.py`)."""
    if value is None:
        return None
    spec = _mapping(value, path)
    _known(spec, path, ("messages", "per"))
    messages = _positive(spec.get("messages"), f"{path}.messages")
    per = _duration(spec.get("per", 1), f"{path}.per")
    if not 1 <= per <= 86400:
        raise _bad("per must be from one second to one day", f"{path}.per")
    if messages > 1_000_000:
        raise _bad("messages must be at most 1000000", f"{path}.messages")
    return {"messages": messages, "per": per}


def parse_quiet_hours(value: Any, path: str) -> dict[str, Any] | None:
    """`{start, end}` local times during which no message is sent: a message due then
    waits for `end` (in the person's zone by default)."""
    if value is None:
        return None
    spec = _mapping(value, path)
    _known(spec, path, ("start", "end", "timezone", "fallback_timezone"))
    start = _clock(spec.get("start"), f"{path}.start")
    end = _clock(spec.get("end"), f"{path}.end")
    if start == end:
        raise _bad("start and end must differ", path)
    return {"start": start[0] * 60 + start[1], "end": end[0] * 60 + end[1], **_zones(spec, path)}


def _condition(value: Any, path: str) -> Any:
    if value is None:
        return None
    conditions.parse(value, path)
    return value


# --- steps --------------------------------------------------------------------------------


def _steps(value: Any, path: str, prefix: str) -> tuple[Step, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad("must be a list of steps", path)
    if len(value) > MAX_STEPS:
        raise _bad(f"holds more than {MAX_STEPS} steps", path)
    return tuple(_step(item, f"{path}[{i}]", f"{prefix}{i}") for i, item in enumerate(value))


def _step(value: Any, path: str, position: str) -> Step:
    if value == "exit":
        return Step(key=position, type="exit", name="Exit")
    item = _mapping(value, path)
    extras = {k: item[k] for k in ("key", "name", "sending_state") if k in item}
    rest = {k: v for k, v in item.items() if k not in extras}
    kind, body = _single(rest, path, STEP_TYPES)
    where = f"{path}.{kind}"
    key = extras.get("key", position)
    if not isinstance(key, str) or not _KEY.match(key):
        raise _bad("key must be 1 to 64 letters, digits or _ . : -", f"{path}.key")
    name = _text(extras.get("name", _default_name(kind)), f"{path}.name", required=True)
    if "sending_state" in extras and kind not in MESSAGE_TYPES:
        raise _bad("only message steps have a sending_state", f"{path}.sending_state")
    step = Step(key=key, type=kind, name=name)
    if kind in MESSAGE_TYPES:
        state = extras.get("sending_state", "automatic")
        if state not in SENDING_STATES:
            raise _bad(f"sending_state must be one of: {', '.join(SENDING_STATES)}", path)
        contents = _webhook(body, where) if kind == "webhook" else _message(body, where, kind)
        return Step(key, kind, name, {}, state, contents)
    if kind == "exit":
        if body not in (None, {}):
            raise _bad("exit takes no settings", where)
        return step
    if kind == "delay":
        return Step(key, kind, name, {"seconds": _duration(body, where)})
    if kind == "wait_until":
        return _wait_until(step, body, where, position)
    if kind == "time_window":
        return Step(key, kind, name, _window(body, where))
    if kind == "at_local":
        return Step(key, kind, name, _at_local(body, where))
    if kind == "update":
        return Step(key, kind, name, _update(body, where))
    return _branching(step, body, where, position)


def _default_name(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def _message(body: Any, path: str, channel: str) -> tuple[tuple[str, dict[str, str]], ...]:
    """A message's default fields, then `languages: {code: fields}`."""
    spec = _mapping(body, path)
    languages = spec.get("languages")
    default = _fields({k: v for k, v in spec.items() if k != "languages"}, path, channel)
    contents = [("", default)]
    if languages is not None:
        for code, fields in _mapping(languages, f"{path}.languages").items():
            where = f"{path}.languages.{code}"
            language = _language(code, where)
            if any(language == done for done, _ in contents):
                raise _bad("a language appears twice", where)
            contents.append((language, _fields(_mapping(fields, where), where, channel)))
    return tuple(contents)


def _fields(spec: dict[str, Any], path: str, channel: str) -> dict[str, str]:
    allowed = FIELDS["sms" if channel == "whatsapp" else channel]
    if channel == "email":  # an email may send a Design Studio email
        allowed = (*allowed, DESIGN_STUDIO_FIELD)
    fields = {}
    for name, value in spec.items():
        if name not in allowed:
            raise _bad(f"{name} is not a field of {channel} messages", f"{path}.{name}")
        if not isinstance(value, str):
            raise _bad("must be a string", f"{path}.{name}")
        if name not in ("layout", DESIGN_STUDIO_FIELD):
            checks.liquid(value, f"{path}.{name}")
        fields[name] = value
    return fields


def _language(code: Any, path: str) -> str:
    if not isinstance(code, str) or not 0 < len(code) <= 16:
        raise _bad("a language code of 1 to 16 characters", path)
    return code.lower()


def _webhook(body: Any, path: str) -> tuple[tuple[str, dict[str, str]], ...]:
    spec = _mapping(body, path)
    _known(spec, path, WEBHOOK_FIELDS)
    url = _text(spec.get("url"), f"{path}.url", required=True, limit=4096)
    method = spec.get("method", "post")
    if method not in WEBHOOK_METHODS:
        raise _bad(f"method must be one of: {', '.join(WEBHOOK_METHODS)}", f"{path}.method")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.isascii() and v.isascii()
        for k, v in headers.items()
    ):
        raise _bad("headers must map ASCII names to ASCII strings", f"{path}.headers")
    body_text = spec.get("body", "")
    if not isinstance(body_text, str):
        raise _bad("body must be a string (Liquid)", f"{path}.body")
    checks.liquid(url, f"{path}.url")
    checks.liquid(body_text, f"{path}.body")
    fields = {"url": url, "method": method, "body": body_text}
    if headers:
        fields["headers"] = json.dumps(headers, sort_keys=True)
    return (("", fields),)


def _wait_until(step: Step, body: Any, path: str, position: str) -> Step:
    spec = _mapping(body, path)
    _known(spec, path, ("condition", "event", "timeout", "on_timeout"))
    settings: dict[str, Any] = {}
    if spec.get("condition") is not None:
        settings["condition"] = _condition(spec["condition"], f"{path}.condition")
    if spec.get("event") is not None:
        settings["event"] = _event_spec(spec["event"], f"{path}.event")
    if not settings:
        raise _bad("needs a condition, an event or both", path)
    if spec.get("timeout") is not None:
        settings["timeout"] = _duration(spec["timeout"], f"{path}.timeout")
    elif spec.get("on_timeout") is not None:
        raise _bad("on_timeout needs a timeout", f"{path}.on_timeout")
    on_timeout = _steps(spec.get("on_timeout"), f"{path}.on_timeout", f"{position}.timeout.")
    return Step(step.key, step.type, step.name, settings, paths=(on_timeout,))


def _window(body: Any, path: str) -> dict[str, Any]:
    spec = _mapping(body, path)
    _known(spec, path, ("days", "start", "end", "timezone", "fallback_timezone"))
    start = _clock(spec.get("start"), f"{path}.start")
    end = _clock(spec.get("end"), f"{path}.end")
    if start == end:
        raise _bad("start and end must differ", path)
    return {
        "days": _days(spec.get("days"), f"{path}.days"),
        "start": start[0] * 60 + start[1],
        "end": end[0] * 60 + end[1],
        **_zones(spec, path),
    }


def _at_local(body: Any, path: str) -> dict[str, Any]:
    spec = _mapping(body, path)
    _known(spec, path, ("time", "days", "timezone", "fallback_timezone"))
    hour, minute = _clock(spec.get("time"), f"{path}.time")
    days = _days(spec.get("days"), f"{path}.days")
    return {"hour": hour, "minute": minute, "days": days, **_zones(spec, path)}


def _zones(spec: dict[str, Any], path: str) -> dict[str, str]:
    """`timezone`: an IANA name, or `customer` (the person's `timezone` attribute,
    the default) with `fallback_timezone` (default UTC) when theirs is missing."""
    return {
        "timezone": _zone_name(spec.get("timezone", "customer"), f"{path}.timezone"),
        "fallback_timezone": _zone_name(
            spec.get("fallback_timezone", "UTC"), f"{path}.fallback_timezone"
        ),
    }


def _zone_name(value: Any, path: str) -> str:
    if value == "customer" and not path.endswith("fallback_timezone"):
        return "customer"
    if not isinstance(value, str) or not 0 < len(value) <= 64 or ".." in value:
        raise _bad("must be an IANA time zone name such as America/New_York", path)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(f"{value!r} is not a known IANA time zone", path) from None
    return value


def _days(value: Any, path: str) -> list[int]:
    if value is None:
        return list(range(7))
    if not isinstance(value, list) or not value:
        raise _bad(f"days must be a non-empty list of: {', '.join(WEEKDAYS)}", path)
    days = set()
    for i, day in enumerate(value):
        if day not in WEEKDAYS:
            raise _bad(f"must be one of: {', '.join(WEEKDAYS)}", f"{path}[{i}]")
        days.add(WEEKDAYS.index(day))
    return sorted(days)


def _update(body: Any, path: str) -> dict[str, Any]:
    spec = _mapping(body, path)
    _known(spec, path, ("attributes",))
    attributes = _mapping(spec.get("attributes"), f"{path}.attributes")
    if not attributes:
        raise _bad("names no attribute", f"{path}.attributes")
    for name, value in attributes.items():
        where = f"{path}.attributes.{name}"
        if not name or len(name) > 150:
            raise _bad("attribute names are 1 to 150 characters", where)
        if name in ("id", "email", "cio_id", "anonymous_id"):
            raise _bad("identifiers are not changed by a campaign", where)
        if isinstance(value, str):
            checks.liquid(value, where)
        elif value is not None and not isinstance(value, bool | int | float):
            raise _bad("must be a string (Liquid), a number, a boolean or null", where)
    return {"attributes": attributes}


def _branching(step: Step, body: Any, path: str, position: str) -> Step:
    spec = _mapping(body, path)
    if step.type == "branch":
        _known(spec, path, ("if", "then", "else"))
        condition = _required_condition(spec.get("if"), f"{path}.if")
        then = _steps(spec.get("then"), f"{path}.then", f"{position}.then.")
        otherwise = _steps(spec.get("else"), f"{path}.else", f"{position}.else.")
        return Step(step.key, step.type, step.name, {"if": condition}, paths=(then, otherwise))
    paths = spec.get("paths")
    if not isinstance(paths, list) or not paths:
        raise _bad("paths must be a non-empty list", f"{path}.paths")
    if step.type == "split":
        _known(spec, path, ("paths", "else"))
        tests, lists = [], []
        for i, item in enumerate(paths):
            where = f"{path}.paths[{i}]"
            branch = _mapping(item, where)
            _known(branch, where, ("if", "steps"))
            tests.append(_required_condition(branch.get("if"), f"{where}.if"))
            lists.append(_steps(branch.get("steps"), f"{where}.steps", f"{position}.{i}."))
        lists.append(_steps(spec.get("else"), f"{path}.else", f"{position}.else."))
        return Step(step.key, step.type, step.name, {"if": tests}, paths=tuple(lists))
    _known(spec, path, ("paths",))
    if len(paths) > MAX_RANDOM_PATHS:
        raise _bad(f"at most {MAX_RANDOM_PATHS} paths", f"{path}.paths")
    percents, lists = [], []
    for i, item in enumerate(paths):
        where = f"{path}.paths[{i}]"
        branch = _mapping(item, where)
        _known(branch, where, ("percent", "steps"))
        percent = branch.get("percent")
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            raise _bad("percent must be a whole number from 0 to 100", f"{where}.percent")
        percents.append(percent)
        lists.append(_steps(branch.get("steps"), f"{where}.steps", f"{position}.{i}."))
    if sum(percents) != 100:
        raise _bad("the percents must add up to 100", f"{path}.paths")
    return Step(step.key, step.type, step.name, {"percents": percents}, paths=tuple(lists))


def _required_condition(value: Any, path: str) -> Any:
    if value is None:
        raise _bad("a condition is required", path)
    return _condition(value, path)


def _check_unique_keys(workflow: tuple[Step, ...], path: str) -> None:
    seen: set[str] = set()
    for step in walk(workflow):
        if step.key in seen:
            raise _bad(f"the key {step.key!r} names two steps", path)
        seen.add(step.key)


def walk(workflow: tuple[Step, ...]) -> list[Step]:
    """Every step, depth first: a branching step before the steps of its paths."""
    found: list[Step] = []
    for step in workflow:
        found.append(step)
        for path in step.paths:
            found.extend(walk(path))
    return found


# --- small values ---------------------------------------------------------------------------


def _duration(value: Any, path: str, *, signed: bool = False) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, dict) and value:
        seconds = 0
        for unit, amount in value.items():
            if unit not in _UNITS:
                raise _bad(f"unit must be one of: {', '.join(_UNITS)}", f"{path}.{unit}")
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise _bad("must be a whole number", f"{path}.{unit}")
            seconds += amount * _UNITS[unit]
    else:
        raise _bad('must be seconds or {"days": n, "hours": n, ...}', path)
    if abs(seconds) > MAX_DURATION or (seconds < 0 and not signed):
        limit = "within five years" if signed else "from 0 to five years"
        raise _bad(f"must be {limit}", path)
    return seconds


def _clock(value: Any, path: str) -> tuple[int, int]:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None:
        raise _bad('must be a time of day such as "09:00"', path)
    return int(match.group(1)), int(match.group(2))


def _single(value: Any, path: str, allowed: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise _bad(f"must be an object with exactly one of: {', '.join(allowed)}", path)
    [(name, body)] = value.items()
    if name not in allowed:
        raise _bad(f"unknown {name!r}; one of: {', '.join(allowed)}", f"{path}.{name}")
    return name, body


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("must be an object", path)
    return value


def _known(body: dict[str, Any], path: str, allowed: tuple[str, ...]) -> None:
    for key in body:
        if key not in allowed:
            raise _bad(f"unknown property {key!r}", f"{path}.{key}")


def _positive(value: Any, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad("must be a positive whole number", path)
    return value


def _text(value: Any, path: str, *, required: bool = False, limit: int = MAX_NAME_CHARS) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad("must be a non-empty string", path)
    if len(value) > limit:
        raise _bad(f"is longer than {limit} characters", path)
    return value.strip()


def _tags(value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise _bad("must be a list of strings", path)
    return tuple(value)


def _bad(message: str, path: str) -> ApiError:
    return bad_request(f"{path}: {message}", path)
