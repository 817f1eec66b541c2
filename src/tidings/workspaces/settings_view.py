"""A workspace's settings as people may see them (the web UI's Settings page).

Secrets never leave this module: API keys are stored only as digests (so no
key can be shown again after it was made; rotating one shows the new key
once), a provider's config is shown only by its non-secret fields, and a
reporting webhook's signing key is left out. What is shown:

- the workspace: id, name, site id (the Track API's user name, not a secret);
- providers per channel: the kind and the config fields whose names do not
  say they hold a secret (`SECRET_WORDS`), scalars only;
- sender identities, reporting webhooks with their recent attempts and the
  error of each (an endpoint without its user, password or query, which
  may carry a token).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from tidings.db.schema import providers, workspaces
from tidings.errors import not_found
from tidings.jobs.browse import public_url
from tidings.reporting import webhooks
from tidings.templates import senders

SECRET_WORDS = ("pass", "secret", "token", "key", "auth", "private", "credential", "cert")
SENDERS_SHOWN = 100


def overview(conn: Connection, workspace_id: int) -> dict[str, Any]:
    """The workspace, its providers, sender identities and reporting webhooks."""
    row = conn.execute(
        select(
            workspaces.c.id, workspaces.c.name, workspaces.c.site_id, workspaces.c.created_at
        ).where(workspaces.c.id == workspace_id)
    ).first()
    if row is None:
        raise not_found(f"no workspace {workspace_id}")
    hooks = []
    for hook in webhooks.list_all(conn, workspace_id):
        hook.pop("signing_key")
        hook["endpoint"] = public_url(hook["endpoint"])
        hook["recent_attempts"] = webhooks.attempts(conn, hook["id"])
        hooks.append(hook)
    found_senders = senders.page(conn, workspace_id, {"limit": str(SENDERS_SHOWN)})
    return {
        "workspace": {
            "id": row.id,
            "name": row.name,
            "site_id": row.site_id,
            "created_at": row.created_at,
        },
        "providers": provider_settings(conn, workspace_id),
        "senders": found_senders["sender_identities"],
        "more_senders": bool(found_senders["next"]),
        "webhooks": hooks,
    }


def provider_settings(conn: Connection, workspace_id: int) -> list[dict[str, Any]]:
    """Each configured channel's provider kind and its non-secret settings; a secret
    field is named with its value left out."""
    rows = conn.execute(
        select(providers.c.channel, providers.c.kind, providers.c.config)
        .where(providers.c.workspace_id == workspace_id)
        .order_by(providers.c.channel)
    )
    found = []
    for row in rows:
        try:
            config = json.loads(row.config)
        except ValueError:
            config = {}
        settings, hidden = {}, []
        for name, value in sorted(config.items() if isinstance(config, dict) else []):
            if is_secret(name) or isinstance(value, dict | list):
                hidden.append(name)
            else:
                settings[name] = value
        found.append(
            {"channel": row.channel, "kind": row.kind, "settings": settings, "hidden": hidden}
        )
    return found


def is_secret(name: str) -> bool:
    """Whether a config field's name says it holds a secret (then its value is never shown)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)
