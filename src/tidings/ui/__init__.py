"""The web UI: server-rendered pages (Jinja2, htmx), mounted beside the APIs.

`create_site` builds it from what `create_app` already has: the settings, the
clock, the reader and the writer. Cookies authenticate it, never API keys.
"""

from __future__ import annotations

from tidings.clock import Clock
from tidings.config import Settings
from tidings.ui.render import environment
from tidings.ui.routes import ROUTES
from tidings.ui.site import Call, Site, Ui

__all__ = ["create_site"]


def create_site(settings: Settings, clock: Clock, read: Call, write: Call) -> Site:
    return Site(Ui(settings, clock, read, write, environment()), ROUTES)
