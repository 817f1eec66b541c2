"""The sign-up's messages, checked against the Tidings emulator through the plugin's
`tidings` fixture only: the application under test reads its settings from the
environment the plugin sets, and the workspace (the onboarding campaign) comes from
workspace.yaml."""

import re
import urllib.request

import signup

REMINDER = "Still looking, Ada?"


def subjects(tidings, recipient: str) -> list[str]:
    return [message["subject"] for message in tidings.outbox(recipient=recipient)]


def opened(url: str) -> str:
    """Where a link of an email leads: the emulator tracks clicks, so links go through
    its redirect first."""

    class Stay(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        urllib.request.build_opener(Stay).open(url)
    except urllib.error.HTTPError as answer:
        if answer.code in (301, 302, 303, 307, 308):
            return answer.headers["Location"]
        raise
    return url


def test_the_welcome_email_holds_the_confirmation_link(tidings):
    link = signup.sign_up("ada", "ada@example.test", "Ada")
    tidings.drain()

    [welcome] = tidings.outbox(recipient="ada@example.test")
    assert welcome["subject"] == "Welcome to the shop, Ada"
    [href] = re.findall(r'href="([^"]+)"', welcome["message"]["html"])
    assert opened(href) == link


def test_the_reminder_comes_three_days_later_to_who_has_not_bought(tidings):
    signup.sign_up("ada", "ada@example.test", "Ada")
    signup.sign_up("bo", "bo@example.test", "Bo")
    tidings.drain()
    signup.record_purchase("bo", 25.0)
    tidings.drain()
    tidings.clear_outbox()  # the welcome emails

    tidings.advance(days=2, hours=23)
    assert tidings.outbox() == []
    tidings.advance(hours=1)
    assert subjects(tidings, "ada@example.test") == [REMINDER]
    assert subjects(tidings, "bo@example.test") == []
