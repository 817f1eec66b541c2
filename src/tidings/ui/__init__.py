"""The web UI: server-rendered pages (Jinja2, htmx), mounted beside the APIs.

`create_site` builds it from what `create_app` already has: the settings, the
clock, the reader, the writer, and the API's key cache to drop a workspace's
entries from when its keys are rotated. Cookies authenticate it, never API keys.
"""

from __future__ import annotations

from collections.abc import Callable

from tidings.clock import Clock
from tidings.config import Settings
from tidings.ui.render import Templates
from tidings.ui.routes import ROUTES
from tidings.ui.site import Call, Site, Ui

__all__ = ["create_site"]


def create_site(
    settings: Settings,
    clock: Clock,
    read: Call,
    write: Call,
    forget_keys: Callable[[int], None] = lambda workspace_id: None,
) -> Site:
    return Site(Ui(settings, clock, read, write, Templates(), forget_keys), ROUTES)
