"""Message resources declared with `tidings apply`: checked when declared (Liquid with
its line, sender identities), and docs/templates.md's example working as documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tidings.errors import ApiError
from tidings.providers import base as outbound
from tidings.sending import request as send_request
from tidings.sending.transactional import new_delivery_id, send_transactional
from tidings.workspaces import apply

DOCS = Path(__file__).parents[2] / "docs" / "templates.md"


def documented_example() -> str:
    """The YAML block of docs/templates.md, as a reader would copy it."""
    [block] = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    return block


def apply_file(tx, workspace_id: int, text: str) -> list[str]:
    document = apply.parse(yaml.safe_load(text))
    changes = tx(lambda conn: apply.plan(document, apply.current(conn, workspace_id)))
    tx(apply.apply_plan, workspace_id, changes, 0)
    return [change.describe() for change in changes]


def send(tx, workspace_id: int, **body: Any) -> outbound.Email:
    request = send_request.parse("email", {"identifiers": {"id": "ann"}, **body}, 0)
    delivery_id = new_delivery_id()
    tx(send_transactional, workspace_id, request, delivery_id, "https://t.test", 0)
    return tx(lambda conn: _payload(conn, delivery_id))


def _payload(conn: Any, delivery_id: str) -> outbound.Email:
    from sqlalchemy import select

    from tidings.db.schema import deliveries

    row = conn.execute(select(deliveries.c.payload).where(deliveries.c.id == delivery_id)).one()
    message = outbound.decode(row.payload)
    assert isinstance(message, outbound.Email)
    return message


def test_the_documented_french_variant_inherits_from_and_layout(tx, workspace) -> None:
    ws = workspace.workspace_id
    assert 'create transactional message "password_reset"' in apply_file(
        tx, ws, documented_example()
    )
    common = {"transactional_message_id": "password_reset", "to": "ann@example.com"}
    french = send(tx, ws, **common, language="fr")
    assert (french.from_, french.subject) == ("Acme <no-reply@acme.test>", "Réinitialiser")
    assert french.html is not None and french.html.startswith("<html>...</html>")
    default = send(tx, ws, **common)
    assert (default.from_, default.subject) == ("Acme <no-reply@acme.test>", "Reset")


def refused(tx, workspace_id: int, text: str) -> str:
    with pytest.raises(ApiError) as caught:
        apply_file(tx, workspace_id, text)
    assert caught.value.status == 400
    return caught.value.message


MESSAGE = """
transactional_messages:
  - name: Welcome
    contents:
      "": {from: "Acme <hello@acme.test>", subject: Hi, body: "<p>Hi</p>"}
      fr: {subject: Salut, body: "<p>Salut</p>"}
"""


def test_apply_refuses_liquid_errors_with_their_line(tx, workspace) -> None:
    ws = workspace.workspace_id
    broken = MESSAGE.replace('"<p>Salut</p>"', '"<p>Salut</p>\\n{% if customer.vip %}"')
    assert refused(tx, ws, broken) == (
        "transactional_messages[0]: contents.fr.body, line 2: "
        "expected tag endif, found end of expression"
    )
    snippet = 'snippets: [{name: footer, value: "{{ customer.name | }}"}]'
    assert refused(tx, ws, snippet).startswith("snippets[0]: value, line 1: ")
    layout = 'layouts: [{name: base, body: "{% for x in %}{{ content }}"}]'
    assert refused(tx, ws, layout).startswith("layouts[0]: body, line 1: ")


def test_apply_refuses_a_from_that_is_not_a_sender_identity(tx, workspace) -> None:
    ws = workspace.workspace_id
    assert apply_file(tx, ws, MESSAGE)  # no identities yet: any sender
    with_other = MESSAGE + "sender_identities: [{email: no-reply@acme.test}]\n"
    assert refused(tx, ws, with_other) == (
        'transactional message "welcome", contents.default.from:'
        " hello@acme.test is not a sender identity of this workspace"
    )
    declared = with_other.replace(
        "[{email: no-reply", "[{email: hello@acme.test}, {email: no-reply"
    )
    assert 'create sender identity "hello@acme.test"' in apply_file(tx, ws, declared)
    liquid = MESSAGE.replace('"Acme <hello@acme.test>"', '"{{ customer.rep }}"')
    assert apply_file(tx, ws, liquid)  # a Liquid sender is checked when a send renders it


def test_a_declared_message_sends_a_design_studio_email(tx, workspace) -> None:
    from tidings.templates import design_studio

    ws = workspace.workspace_id
    body = {"name": "Receipt", "content": {"subject": "Order {{ trigger.n }}", "html": "<b/>"}}
    email = tx(design_studio.create, ws, "email", body, 0)
    apply_file(
        tx,
        ws,
        f"""
transactional_messages:
  - name: Receipt
    contents:
      "": {{design_studio_email_id: "{email["id"]}", from: "Acme <hi@acme.test>"}}
""",
    )
    sent = send(tx, ws, transactional_message_id="Receipt", to="a@b.test", message_data={"n": 7})
    assert (sent.from_, sent.subject) == ("Acme <hi@acme.test>", "Order 7")
    assert sent.html is not None and sent.html.startswith("<b/>")  # then the open pixel


def test_apply_refuses_a_design_studio_email_the_workspace_lacks(tx, workspace) -> None:
    from tidings.errors import ApiError
    from tidings.templates import design_studio

    ws = workspace.workspace_id
    folder = tx(design_studio.create, ws, "folder", {"name": "Drafts"}, 0)["id"]
    for wrong in (folder, "no-such-email"):
        declared = f"""
transactional_messages:
  - name: Receipt
    contents:
      "": {{design_studio_email_id: "{wrong}", from: "hi@acme.test"}}
"""
        with pytest.raises(ApiError) as caught:
            apply_file(tx, ws, declared)
        assert (caught.value.status, caught.value.field) == (400, "design_studio_email_id")
