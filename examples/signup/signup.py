"""A shop's sign-up, as an application talks to Customer.io.

`sign_up` identifies the new customer and tracks `signed_up` with the official
Track client, then sends the welcome email (the transactional message
`welcome`, holding a confirmation link) with the official App API client. The
`signed_up` event also starts the workspace's "Signup reminder" campaign
(workspace.yaml), which writes three days later unless the customer has made a
purchase: `record_purchase` tracks `purchased`.

The settings come from the environment:

- `TIDINGS_HTTPS_URL`: the Track API (`https://track.customer.io`, or
  `https://track-eu.customer.io` in the EU region);
- `TIDINGS_URL`: the App API (`https://api.customer.io` or `https://api-eu.customer.io`);
- `TIDINGS_SITE_ID`, `TIDINGS_TRACK_API_KEY`: the workspace's Track credentials;
- `TIDINGS_APP_API_KEY`: an App API key.

In tests the Tidings pytest plugin points them at its emulator.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from customerio import APIClient, CustomerIO, SendEmailRequest

SHOP_URL = "https://shop.example.test"
WELCOME_MESSAGE = "welcome"  # the transactional message's trigger name


@dataclass(frozen=True)
class Settings:
    track_url: str
    app_url: str
    site_id: str
    track_api_key: str
    app_api_key: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            track_url=env["TIDINGS_HTTPS_URL"],
            app_url=env["TIDINGS_URL"],
            site_id=env["TIDINGS_SITE_ID"],
            track_api_key=env["TIDINGS_TRACK_API_KEY"],
            app_api_key=env["TIDINGS_APP_API_KEY"],
        )

    def track_client(self) -> CustomerIO:
        url = urlsplit(self.track_url)
        port = url.port or 443
        return CustomerIO(self.site_id, self.track_api_key, host=url.hostname, port=port)

    def app_client(self) -> APIClient:
        return APIClient(self.app_api_key, url=self.app_url)


def sign_up(user_id: str, email: str, first_name: str, settings: Settings | None = None) -> str:
    """Sign a customer up: identify them, track `signed_up`, send the welcome email.
    Returns the confirmation link the email holds."""
    settings = settings or Settings.from_environment()
    link = confirmation_link(user_id)
    with settings.track_client() as track:
        track.identify(user_id, email=email, first_name=first_name)
        track.track(user_id, "signed_up")
    welcome = SendEmailRequest(
        transactional_message_id=WELCOME_MESSAGE,
        identifiers={"id": user_id},
        to=email,
        message_data={"confirmation_link": link},
    )
    with settings.app_client() as app:
        app.send_email(welcome)
    return link


def record_purchase(user_id: str, total: float, settings: Settings | None = None) -> None:
    """The customer bought something: the reminder campaign lets them go."""
    settings = settings or Settings.from_environment()
    with settings.track_client() as track:
        track.track(user_id, "purchased", {"total": total})


def confirmation_link(user_id: str) -> str:
    """A link with a fresh token (a real shop would keep the token to check it)."""
    query = urlencode({"user": user_id, "token": secrets.token_urlsafe(16)})
    return f"{SHOP_URL}/confirm?{query}"
