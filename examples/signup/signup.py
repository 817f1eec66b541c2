"""A shop's sign-up, as an application talks to Customer.io.

`sign_up` identifies the new customer and tracks `signed_up`, with a
confirmation link in the event's data, through the official Track client.
The event starts the workspace's "Onboarding" campaign (workspace.yaml): a
welcome email holding the link at once, and a reminder three days later
unless the customer has bought something by then: `record_purchase` tracks
`purchased`, the campaign's goal.

The settings come from the environment:

- `TIDINGS_HTTPS_URL`: the Track API (`https://track.customer.io`, or
  `https://track-eu.customer.io` in the EU region);
- `TIDINGS_SITE_ID`, `TIDINGS_TRACK_API_KEY`: the workspace's Track credentials.

In tests the Tidings pytest plugin points them at its emulator.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from customerio import CustomerIO

SHOP_URL = "https://shop.example.test"


@dataclass(frozen=True)
class Settings:
    track_url: str
    site_id: str
    track_api_key: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            track_url=env["TIDINGS_HTTPS_URL"],
            site_id=env["TIDINGS_SITE_ID"],
            track_api_key=env["TIDINGS_TRACK_API_KEY"],
        )

    def track_client(self) -> CustomerIO:
        url = urlsplit(self.track_url)
        port = url.port or 443
        return CustomerIO(self.site_id, self.track_api_key, host=url.hostname, port=port)


def sign_up(user_id: str, email: str, first_name: str, settings: Settings | None = None) -> str:
    """Sign a customer up: identify them and track `signed_up` (the campaign sends the
    welcome email). Returns the confirmation link the email holds."""
    settings = settings or Settings.from_environment()
    link = confirmation_link(user_id)
    with settings.track_client() as track:
        track.identify(user_id, email=email, first_name=first_name)
        track.track(user_id, "signed_up", {"confirmation_link": link})
    return link


def record_purchase(user_id: str, total: float, settings: Settings | None = None) -> None:
    """The customer bought something: the campaign's goal, so it lets them go."""
    settings = settings or Settings.from_environment()
    with settings.track_client() as track:
        track.track(user_id, "purchased", {"total": total})


def confirmation_link(user_id: str) -> str:
    """A link with a fresh token (a real shop would keep the token to check it)."""
    query = urlencode({"user": user_id, "token": secrets.token_urlsafe(16)})
    return f"{SHOP_URL}/confirm?{query}"
