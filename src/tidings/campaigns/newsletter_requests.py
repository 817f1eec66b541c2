"""What a newsletter request asks for (pure): a new newsletter, a content edit, a send,
a schedule.

Bodies are Customer.io's (`createNewsletterRequest`, `updateContentRequest`,
`newsletterScheduleRequest`, `newsletterRateLimitOptions`). A newsletter's
`type` is Customer.io's channel name (`email`, `twilio`, `push`, `in_app`,
`inbox`, `webhook`); its content is stored under our field names
(`templates.definitions.FIELDS`, the webhook's `url`, `method`, `headers`,
`body`), so `FIELD_NAMES` maps each type's Customer.io names onto ours:
push `subject` and `body` are our `title` and `message`, in-app and inbox
`body_json` our `body`, email `preheader_text` our `preheader`, a webhook's
`request_method` our `method`. Our own names are taken too.

`recipients` is the audience filter (BEHAVIOUR.md 5.4) with Customer.io's
`inverse: true` on an attribute ("is not equal", "does not exist"), stored as
a `not` around it so the condition language reads it unchanged.

The rate limit options become a send rate (`sending/rates.py`): at most
`rate_limit_email_rate` messages in any window of `rate_limit_time_period`
seconds. `ab_test` is our A/B test extension (`newsletter_ab.py`): a sample
percentage, the metric that picks the winner, the test period and whether
the winner goes to the rest. Every refusal is a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.campaigns import newsletter_references as references
from tidings.campaigns import service
from tidings.campaigns.local_time import zone
from tidings.errors import bad_request
from tidings.segments import conditions
from tidings.templates.definitions import DESIGN_STUDIO_FIELD, parse_fields

MAX_NAME = 190
MAX_TEST_GROUPS = 7  # besides the newsletter's own content: 8 variations (CAMPAIGNS.md 5.2)
PERIODS = (60, 3600, 86400)
TZ_MATCH_MAX_PERIOD = 3600
# Customer.io's newsletter type -> our message action type.
ACTION_TYPES = {
    "email": "email",
    "twilio": "sms",
    "push": "push",
    "in_app": "in_app",
    "inbox": "inbox",
    "webhook": "webhook",
}
API_TYPES = {ours: theirs for theirs, ours in ACTION_TYPES.items()}
# Per our action type: Customer.io's field name -> ours.
FIELD_NAMES: dict[str, dict[str, str]] = {
    "email": {"preheader_text": "preheader"},
    "sms": {},
    "push": {"subject": "title", "body": "message"},
    "in_app": {"body_json": "body"},
    "inbox": {"body_json": "body"},
    "webhook": {"request_method": "method"},
}
REQUIRED = {
    "email": ("subject", "body"),
    "sms": ("body",),
    "in_app": ("body",),
    "inbox": ("body",),
    "webhook": ("body", "method", "url"),
}
RATE_KEYS = ("rate_limit_email_rate", "rate_limit_time_period", "rate_limit_spread")
_COMMON = (
    "name",
    "type",
    "recipients",
    "send_now",
    "scheduled_at",
    "subscription_topic_id",
    "ab_test",
)
# The A/B test extension (`newsletter_ab.py`).
AB_METRICS = ("opened", "clicked", "converted")
MAX_TEST_HOURS = 720
AB_KEYS = ("sample_percent", "winner_metric", "test_period_hours", "send_winner")
AB_DEFAULTS = {"winner_metric": "opened", "test_period_hours": 24, "send_winner": False}
_IGNORED = ("deduplicate_id", "type", "id", "newsletter_id", "language", "name", "test_group_id")
_UNSUPPORTED = ("recipient",)


@dataclass(frozen=True)
class NewNewsletter:
    name: str
    action_type: str
    recipients: Any
    fields: dict[str, Any]  # with `from_id`, `reply_to_id`, `layout_id` if given
    rate: dict[str, Any] | None
    send_now: bool
    scheduled_at: int | None
    subscription_topic_id: int | None
    ab_test: dict[str, Any] | None = None


@dataclass(frozen=True)
class Schedule:
    """`at` 0 deschedules; otherwise `timezone` is an IANA name."""

    at: int
    timezone: str | None
    tz_match: bool
    rate: dict[str, Any] | None


def parse_new(body: Any, now: int) -> NewNewsletter:
    """A `POST /v1/newsletters` body."""
    body = _object(body)
    theirs = body.get("type")
    if theirs not in ACTION_TYPES:
        raise bad_request(f"type must be one of: {', '.join(ACTION_TYPES)}", "type")
    action_type = ACTION_TYPES[theirs]
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise bad_request(f"name must be a string of 1 to {MAX_NAME} characters", "name")
    if body.get("send_now") is not None and not isinstance(body["send_now"], bool):
        raise bad_request("send_now must be true or false", "send_now")
    send_now = bool(body.get("send_now"))
    scheduled_at = body.get("scheduled_at")
    if send_now and scheduled_at is not None:
        raise bad_request("give send_now or scheduled_at, not both", "scheduled_at")
    if scheduled_at is not None:
        scheduled_at = _future(scheduled_at, now)
    topic = body.get("subscription_topic_id")
    if topic is not None and not _is_int(topic):
        raise bad_request("subscription_topic_id must be an integer", "subscription_topic_id")
    given = {k: v for k, v in body.items() if k not in (*_COMMON, *RATE_KEYS)}
    fields = parse_content(action_type, given)
    if fields.get("from_id") is not None and fields.get("from"):
        raise bad_request("give from or from_id, not both", "from_id")  # Customer.io's xor
    missing = [name for name in REQUIRED.get(action_type, ()) if not fields.get(name)]
    if fields.get(DESIGN_STUDIO_FIELD):  # the Design Studio email gives subject and body
        missing = []
    if action_type == "push" and not (fields.get("title") or fields.get("message")):
        missing = ["subject or body"]
    if missing:
        shown = {v: k for k, v in FIELD_NAMES[action_type].items()}.get(missing[0], missing[0])
        raise bad_request(f"{shown} is required for {theirs} newsletters", shown)
    return NewNewsletter(
        name=name.strip(),
        action_type=action_type,
        recipients=parse_recipients(body.get("recipients")),
        fields=fields,
        rate=parse_rate(body, tz_match=False),
        send_now=send_now,
        scheduled_at=scheduled_at,
        subscription_topic_id=topic,
        ab_test=parse_ab_test(body.get("ab_test")),
    )


def parse_ab_test(value: Any) -> dict[str, Any] | None:
    """An `ab_test` object (None: no test), defaults filled in; a 400 naming the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("ab_test must be an object or null", "ab_test")
    unknown = sorted(set(value) - set(AB_KEYS))
    if unknown:
        raise bad_request(f"unknown field {unknown[0]!r} of ab_test", f"ab_test.{unknown[0]}")
    test: dict[str, Any] = {**AB_DEFAULTS, **value}
    percent: Any = test.get("sample_percent")
    if not _is_int(percent) or not 1 <= percent <= 100:
        raise bad_request("sample_percent must be from 1 to 100", "ab_test.sample_percent")
    if test["winner_metric"] not in AB_METRICS:
        raise bad_request(
            f"winner_metric must be one of: {', '.join(AB_METRICS)}", "ab_test.winner_metric"
        )
    hours = test["test_period_hours"]
    if not _is_int(hours) or not 1 <= hours <= MAX_TEST_HOURS:
        raise bad_request(
            f"test_period_hours must be from 1 to {MAX_TEST_HOURS}", "ab_test.test_period_hours"
        )
    if not isinstance(test["send_winner"], bool):
        raise bad_request("send_winner must be true or false", "ab_test.send_winner")
    return test


def parse_recipients(value: Any) -> Any:
    """The audience filter, `inverse` rewritten as `not`; a 400 naming the path at fault."""
    if value is None:
        raise bad_request("recipients is required (an audience filter)", "recipients")
    condition = _without_inverse(value)
    conditions.parse(condition, "recipients")
    return condition


def _without_inverse(value: Any) -> Any:
    if isinstance(value, list):
        return [_without_inverse(item) for item in value]
    if not isinstance(value, dict):
        return value
    leaf = value.get("attribute")
    if len(value) == 1 and isinstance(leaf, dict) and "inverse" in leaf:
        inverse = leaf["inverse"]
        if not isinstance(inverse, bool):
            raise bad_request("inverse must be true or false", "recipients")
        plain = {"attribute": {k: v for k, v in leaf.items() if k != "inverse"}}
        return {"not": plain} if inverse else plain
    return {key: _without_inverse(item) for key, item in value.items()}


def parse_content(action_type: str, body: Any) -> dict[str, Any]:
    """Content fields under Customer.io's names or ours, checked for the action type (the
    keys a content shows that are not fields are ignored), with an email's `from_id`,
    `reply_to_id` and `layout_id` (`newsletter_references.parse`)."""
    body = _object(body)
    names = FIELD_NAMES[action_type]
    ids = references.parse(action_type, body)
    given: dict[str, Any] = {}
    for key, value in body.items():
        if key in _IGNORED or key in references.REFERENCES:
            continue
        if key in _UNSUPPORTED:
            raise bad_request(f"{key} is not supported by Tidings: give the value itself", key)
        ours = names.get(key, key)
        if action_type == "webhook" and ours == "method" and isinstance(value, str):
            value = value.lower()
        given[ours] = value
    if action_type == "webhook":
        fields, _ = service.parse_edit("webhook", given)
        return fields
    return {**parse_fields(given, action_type, designed=True), **ids}


def parse_rate(body: dict[str, Any], *, tz_match: bool) -> dict[str, Any] | None:
    """The rate limit options of a body: None when it gives none."""
    if not any(body.get(key) is not None for key in RATE_KEYS):
        return None
    rate, period = body.get("rate_limit_email_rate"), body.get("rate_limit_time_period")
    if (rate is None) != (period is None):
        raise bad_request(
            "set both rate_limit_email_rate and rate_limit_time_period, or neither",
            "rate_limit_email_rate" if rate is None else "rate_limit_time_period",
        )
    spread = body.get("rate_limit_spread")
    if spread is not None and not isinstance(spread, bool):
        raise bad_request("rate_limit_spread must be true or false", "rate_limit_spread")
    if rate is None:
        return {"spread": bool(spread)}
    if not _is_int(rate) or not 1 <= rate <= 1_000_000:
        raise bad_request(
            "rate_limit_email_rate must be from 1 to 1000000", "rate_limit_email_rate"
        )
    if period not in PERIODS:
        raise bad_request(
            "rate_limit_time_period must be 60, 3600 or 86400", "rate_limit_time_period"
        )
    if tz_match and period > TZ_MATCH_MAX_PERIOD:
        raise bad_request(
            "with tz_match_enabled, rate_limit_time_period must be at most 3600",
            "rate_limit_time_period",
        )
    return {"messages": rate, "per": period, "spread": bool(spread)}


def parse_schedule(body: Any, now: int) -> Schedule:
    """A `POST /v1/newsletters/{id}/schedule` body."""
    body = _object(body)
    if body.get("scheduled_at") is None:
        raise bad_request("scheduled_at is required (unix seconds; 0 deschedules)", "scheduled_at")
    tz_match = body.get("tz_match_enabled", False)
    if not isinstance(tz_match, bool):
        raise bad_request("tz_match_enabled must be true or false", "tz_match_enabled")
    rate = parse_rate(body, tz_match=tz_match)
    if body["scheduled_at"] == 0:
        return Schedule(0, None, False, rate)
    at = _future(body["scheduled_at"], now)
    name = body.get("timezone")
    if not isinstance(name, str) or zone(name).key != name:
        raise bad_request(
            "timezone must be an IANA time zone name, such as America/New_York", "timezone"
        )
    return Schedule(at, name, tz_match, rate)


def parse_send(body: Any) -> dict[str, Any] | None:
    """A `POST /v1/newsletters/{id}/send` body: its rate limit options, if any."""
    if body is None:
        return None
    body = _object(body)
    unknown = sorted(set(body) - set(RATE_KEYS))
    if unknown:
        raise bad_request(
            f"unknown field {unknown[0]!r}: a send takes rate limits only", unknown[0]
        )
    return parse_rate(body, tz_match=False)


def _future(value: Any, now: int) -> int:
    if not _is_int(value) or value <= now or value > 2**40:
        raise bad_request("scheduled_at must be a unix time in the future", "scheduled_at")
    return int(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("request body must be a JSON object")
    return body
