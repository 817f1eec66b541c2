"""A workspace's provider per channel: checked, stored, changed and removed.

One row per (workspace, channel) in `providers`, holding the adapter's kind
and its JSON config; no row means the channel is captured in the outbox.
`tidings apply` (`resources.py`) and the web UI's Settings page both go
through `parse` and `put`, so a config is checked by its adapter's own rules
(`providers.adapters.check_config`) whichever way it arrives, and refused
before anything is written.

`change` is the UI's edit: the page never shows a secret field's value
(`settings_view.is_secret`, and values that are not scalars), so the form
sends the shown fields in full and only the secrets it changes; a secret left
out keeps its stored value, one sent as null is removed. The merge, the check
and the write happen in the caller's one transaction. The delivery worker
re-reads the row before each batch (`providers.adapters`), so a change is used
by every send claimed after it commits.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Connection, delete, insert, select, update

from tidings.db.schema import providers
from tidings.errors import ApiError, bad_request, not_found
from tidings.providers.adapters import check_config
from tidings.workspaces.settings_view import is_secret

KINDS = {
    "email": ("capture", "smtp", "ses", "sendgrid", "postmark", "mailgun"),
    "sms": ("capture", "twilio"),
    "whatsapp": ("capture", "twilio"),
    "push": ("capture", "fcm", "apns"),
}


def parse(item: Any) -> tuple[str, str, dict[str, Any]]:
    """`{"channel", "kind", "config"?}` -> (channel, kind, config), checked by the kind's
    adapter; a 400 naming the field otherwise."""
    if not isinstance(item, dict) or set(item) - {"channel", "kind", "config"}:
        raise bad_request("must be a mapping of channel, kind and config")
    channel, kind, config = item.get("channel"), item.get("kind"), item.get("config", {})
    if channel not in KINDS:
        raise bad_request(f"channel must be one of: {', '.join(KINDS)}", "channel")
    if kind not in KINDS[channel]:
        kinds = ", ".join(KINDS[channel])
        raise bad_request(f"kind must be one of: {kinds} (for the {channel} channel)", "kind")
    if not isinstance(config, dict):
        raise bad_request("config must be a mapping", "config")
    try:
        check_config(kind, config)
    except ValueError as exc:
        raise bad_request(str(exc), "config") from exc
    return channel, kind, config


def put(
    conn: Connection, workspace_id: int, channel: str, kind: str, config: dict[str, Any], now: int
) -> str:
    """Store the channel's provider (a checked config, see `parse`); "create" or "update"."""
    where = (providers.c.workspace_id == workspace_id, providers.c.channel == channel)
    values = {"kind": kind, "config": msgspec.json.encode(config).decode(), "updated_at": now}
    if conn.execute(update(providers).where(*where).values(**values)).rowcount:
        return "update"
    conn.execute(insert(providers).values(workspace_id=workspace_id, channel=channel, **values))
    return "create"


def create(
    conn: Connection, workspace_id: int, channel: str, kind: str, config: dict[str, Any], now: int
) -> None:
    """Store a provider for a channel that has none; a 409 when it has one (edit that)."""
    if stored(conn, workspace_id, channel) is not None:
        raise ApiError(
            409, f"the {channel} channel has a provider already", code="conflict", field="channel"
        )
    put(conn, workspace_id, channel, kind, config, now)


def stored(conn: Connection, workspace_id: int, channel: str) -> tuple[str, dict[str, Any]] | None:
    """The channel's (kind, config), None when it has no provider."""
    row = conn.execute(
        select(providers.c.kind, providers.c.config).where(
            providers.c.workspace_id == workspace_id, providers.c.channel == channel
        )
    ).first()
    return None if row is None else (row.kind, msgspec.json.decode(row.config))


def hidden(config: dict[str, Any]) -> list[str]:
    """The config fields never shown: secrets by name, and values that are not scalars."""
    return sorted(k for k, v in config.items() if is_secret(k) or isinstance(v, dict | list))


def change(
    conn: Connection,
    workspace_id: int,
    channel: str,
    kind: str,
    shown: dict[str, Any],
    secrets: dict[str, Any],
    now: int,
) -> list[str]:
    """Replace the channel's provider from an edit form: `shown` is every field the form
    showed (a shown field left out is removed), `secrets` the hidden fields it changes
    (null removes one). Hidden fields not named keep their stored values while the kind
    stays; a new kind starts from `shown` and `secrets` alone. The names of the fields
    that changed (never their values); a 400 if the result does not check, writing nothing."""
    found = stored(conn, workspace_id, channel)
    if found is None:
        raise not_found(f"the {channel} channel has no provider")
    old_kind, old = found
    refused = [name for name, value in shown.items() if hidden({name: value})]
    if refused:
        raise bad_request(f"{refused[0]} is a secret: give it under secrets", "config")
    config = {k: old[k] for k in hidden(old)} if kind == old_kind else {}
    config |= shown
    for name, value in secrets.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value
    channel, kind, config = parse({"channel": channel, "kind": kind, "config": config})
    put(conn, workspace_id, channel, kind, config, now)
    changed = sorted(k for k in {*old, *config} if old.get(k) != config.get(k))
    return (["kind"] if kind != old_kind else []) + changed


def remove(conn: Connection, workspace_id: int, channel: str) -> None:
    """Remove the channel's provider: its messages are captured in the outbox from then on."""
    gone = conn.execute(
        delete(providers).where(
            providers.c.workspace_id == workspace_id, providers.c.channel == channel
        )
    ).rowcount
    if not gone:
        raise not_found(f"the {channel} channel has no provider")
