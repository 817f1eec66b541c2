"""Which adapter sends a workspace's channel, and a cache of the adapters in use.

The `providers` table holds one row per (workspace, channel) with a `kind`
and its JSON `config`; no row means capture. `FACTORIES` maps each kind to
how its adapter is built: an external adapter is a class in
`tidings.providers.<kind>` constructed from the config dict alone,
imported on first use. Adding a provider is one line here plus its module.

`Adapters` keeps one adapter per (workspace, channel) so connections are
reused between sends, and closes them all on `close`. The delivery worker
re-reads the provider rows of each batch it claims (`refresh`, one read a
batch): a changed row replaces the adapter (closing the old one) before the
batch's sends, so a change committed by any process (`tidings apply`, the
App API) is used by every send claimed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import Connection, select

from tidings.db.schema import providers
from tidings.fetch import Allowlist
from tidings.providers.base import Adapter
from tidings.providers.capture import CaptureAdapter
from tidings.providers.webhook import WebhookAdapter

# Channels a provider can be configured for; in-app and inbox are always captured.
CONFIGURABLE = frozenset({"email", "sms", "whatsapp", "push"})


@dataclass(frozen=True)
class Services:
    """What built-in adapters may use: blocking `write(fn, *args)`, the clock, and the
    private addresses user-given URLs may reach (webhooks)."""

    write: Callable[..., Any]
    clock: Any
    allow: Allowlist = field(default_factory=Allowlist)


Factory = Callable[[dict[str, Any], int, str, Services], Adapter]


def _capture(
    config: dict[str, Any], workspace_id: int, channel: str, services: Services
) -> Adapter:
    return CaptureAdapter(workspace_id, channel, services.write, services.clock)


def _webhook(
    config: dict[str, Any], workspace_id: int, channel: str, services: Services
) -> Adapter:
    return WebhookAdapter(services.allow)


def external(path: str) -> Factory:
    """An adapter class named `module:Class`, built from its config dict."""

    def build(
        config: dict[str, Any], workspace_id: int, channel: str, services: Services
    ) -> Adapter:
        module, name = path.split(":")
        cls = getattr(importlib.import_module(module), name)
        return cls(config)  # type: ignore[no-any-return]

    return build


def check_config(kind: str, config: dict[str, Any]) -> None:
    """Validate a provider config without building its adapter; ValueError if wrong.

    External kinds check through their module's `check(config)`; capture takes
    no settings.
    """
    if kind == "capture":
        return
    module = importlib.import_module(f"tidings.providers.{kind}")
    module.check(config)


FACTORIES: dict[str, Factory] = {
    "capture": _capture,
    "webhook": _webhook,
    "smtp": external("tidings.providers.smtp:from_config"),
    "twilio": external("tidings.providers.twilio:from_config"),
    "fcm": external("tidings.providers.fcm:from_config"),
    "apns": external("tidings.providers.apns:from_config"),
    "ses": external("tidings.providers.ses:from_config"),
    "sendgrid": external("tidings.providers.sendgrid:from_config"),
    "postmark": external("tidings.providers.postmark:from_config"),
    "mailgun": external("tidings.providers.mailgun:from_config"),
}
# The emulator's: every provider captures, whatever a workspace configured; a campaign's
# webhook action is still sent as asked.
CAPTURE_ONLY: dict[str, Factory] = {
    kind: _webhook if kind == "webhook" else _capture for kind in FACTORIES
}


@dataclass(frozen=True)
class Provider:
    kind: str
    config: dict[str, Any]
    updated_at: int


CAPTURE = Provider("capture", {}, 0)
WEBHOOK = Provider("webhook", {}, 0)  # the `webhook` channel: always sent as asked


Key = tuple[int, str]  # (workspace id, channel)


def providers_for(conn: Connection, keys: Iterable[Key]) -> dict[Key, Provider]:
    """The provider of each (workspace, channel), capture where none is set: one read."""
    found = {key: WEBHOOK if key[1] == "webhook" else CAPTURE for key in keys}
    workspace_ids = {ws for ws, channel in found if channel in CONFIGURABLE}
    if not workspace_ids:
        return found
    rows = conn.execute(
        select(
            providers.c.workspace_id,
            providers.c.channel,
            providers.c.kind,
            providers.c.config,
            providers.c.updated_at,
        ).where(providers.c.workspace_id.in_(workspace_ids))
    )
    for row in rows:
        if (row.workspace_id, row.channel) in found:
            provider = Provider(row.kind, msgspec.json.decode(row.config), row.updated_at)
            found[row.workspace_id, row.channel] = provider
    return found


@dataclass
class _Entry:
    provider: Provider
    adapter: Adapter
    users: int = 0  # sends holding the adapter now (`Adapters.using`)
    retired: bool = False  # replaced: closed once its last user is done

    async def release(self) -> None:
        if self.retired and self.users == 0:
            await self.adapter.close()


class Adapters:
    def __init__(
        self,
        read: Callable[..., Any],
        services: Services,
        *,
        factories: dict[str, Factory] | None = None,
    ) -> None:
        self._read = read  # blocking: fn(conn, *args) in a read transaction
        self._services = services
        self._factories = FACTORIES if factories is None else factories
        self._wanted: dict[Key, Provider] = {}  # as last read
        self._entries: dict[Key, _Entry] = {}
        self._lock = asyncio.Lock()

    async def refresh(self, keys: Iterable[Key]) -> None:
        """Read these providers now (`providers_for`, then `remember`)."""
        self.remember(await asyncio.to_thread(self._read, providers_for, set(keys)))

    def remember(self, found: dict[Key, Provider]) -> None:
        """Providers as just read; `using` then builds a new adapter for any that changed."""
        self._wanted.update(found)

    @contextlib.asynccontextmanager
    async def using(self, workspace_id: int, channel: str) -> AsyncIterator[Adapter]:
        """The adapter for the provider as last refreshed (read now if never), held for
        the block: a provider changed meanwhile gets a new adapter, and the old one is
        closed only when the last send holding it is done (never under a send)."""
        entry = await self._current((workspace_id, channel))
        entry.users += 1
        try:
            yield entry.adapter
        finally:
            entry.users -= 1
            await entry.release()

    async def _current(self, key: Key) -> _Entry:
        if key not in self._wanted:
            await self.refresh([key])
        wanted = self._wanted[key]
        entry = self._entries.get(key)
        if entry is not None and entry.provider == wanted:
            return entry
        async with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.provider == wanted:
                return entry  # another send built it meanwhile
            fresh = self._entries[key] = _Entry(wanted, self._build(wanted, *key))
            if entry is not None:
                entry.retired = True
                await entry.release()
            return fresh

    def _build(self, provider: Provider, workspace_id: int, channel: str) -> Adapter:
        factory = self._factories.get(provider.kind)
        if factory is None:
            raise ValueError(f"no adapter for provider kind {provider.kind!r}")
        return factory(provider.config, workspace_id, channel, self._services)

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            await entry.adapter.close()
