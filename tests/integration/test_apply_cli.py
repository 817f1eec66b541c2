"""`tidings apply -f workspace.yaml`: segments declared in a file, applied idempotently."""

from __future__ import annotations

import subprocess

from tests.support import CLI, run_cli
from tidings.segments import service as segments

FILE = """
segments:
  - name: VIPs
    description: big spenders
    tags: [sales]
    conditions:
      attribute: {field: plan, operator: eq, value: pro}
  - name: Hand-picked
"""


def apply(database_url, workspace, path, *extra):
    args = ["apply", "-f", str(path), "--database-url", database_url]
    return run_cli(*args, "--workspace-id", str(workspace.workspace_id), *extra).splitlines()


def test_apply_creates_then_changes_nothing(tmp_path, database_url, workspace, query):
    path = tmp_path / "workspace.yaml"
    path.write_text(FILE)
    ws = workspace.workspace_id
    planned = apply(database_url, workspace, path, "--dry-run")
    assert planned == ['create segment "VIPs"', 'create segment "Hand-picked"']
    assert query(segments.list_all, ws) == []
    applied = apply(database_url, workspace, path)
    made = {s["name"]: s for s in query(segments.list_all, ws)}
    assert applied == [
        f'create segment "VIPs" (id {made["VIPs"]["id"]})',
        f'create segment "Hand-picked" (id {made["Hand-picked"]["id"]})',
    ]
    assert made["VIPs"]["type"] == "dynamic" and made["VIPs"]["conditions"]["attribute"]
    assert made["VIPs"]["tags"] == ["sales"] and made["Hand-picked"]["type"] == "manual"
    assert apply(database_url, workspace, path) == [
        'unchanged segment "VIPs"',
        'unchanged segment "Hand-picked"',
    ]


def test_apply_updates_changed_conditions(tmp_path, database_url, workspace, query):
    path = tmp_path / "workspace.yaml"
    path.write_text(FILE)
    apply(database_url, workspace, path)
    path.write_text(FILE.replace("value: pro", "value: gold"))
    assert apply(database_url, workspace, path, "--dry-run")[0] == (
        'update segment "VIPs": conditions'
    )
    assert apply(database_url, workspace, path)[0] == 'update segment "VIPs": conditions'
    vips = [s for s in query(segments.list_all, workspace.workspace_id) if s["name"] == "VIPs"]
    assert vips[0]["conditions"]["attribute"]["value"] == "gold"


def test_apply_refuses_a_bad_file(tmp_path, database_url, workspace, query):
    path = tmp_path / "workspace.yaml"
    path.write_text("segments:\n  - name: X\n    conditions: {attribute: {field: a}}\n")
    args = ["apply", "-f", str(path), "--database-url", database_url]
    args += ["--workspace-id", str(workspace.workspace_id)]
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "segments[0].conditions.attribute.operator" in done.stderr
    assert query(segments.list_all, workspace.workspace_id) == []


RESOURCES = """
transactional_messages:
  - name: Password reset
    trigger_name: password_reset
    contents:
      "": {subject: "Reset", body: "<p>{{ snippets.footer }}</p>", layout: base}
      fr: {subject: "Réinitialiser"}
snippets: [{name: footer, value: "bye"}]
sender_identities: [{email: no-reply@acme.test, name: Acme}]
layouts: [{name: base, body: "<html>{{ content }}</html>"}]
providers:
  - {channel: email, kind: smtp, config: {host: smtp.acme.test, port: 587}}
"""


def test_apply_message_resources_then_changes_nothing(tmp_path, database_url, workspace, query):
    from tidings.templates import layouts, senders, snippets
    from tidings.templates import transactional_messages as messages

    path = tmp_path / "workspace.yaml"
    path.write_text(RESOURCES)
    ws = workspace.workspace_id
    planned = apply(database_url, workspace, path, "--dry-run")
    assert planned == [
        'create transactional message "password_reset"',
        'create snippet "footer"',
        'create sender identity "no-reply@acme.test"',
        'create layout "base"',
        'create provider "email"',
    ]
    assert query(messages.count, ws) == 0
    applied = apply(database_url, workspace, path)
    template = query(messages.by_trigger, ws, "PASSWORD_RESET")
    assert applied == [f"{planned[0]} (id {template.id})", *planned[1:]]
    fields = query(messages.content_fields, template, "fr")[1]  # the layout is inherited
    assert fields == {"subject": "Réinitialiser", "layout": "base"}
    assert query(snippets.values, ws) == {"footer": "bye"}
    assert query(senders.sender_identity_for, ws, "no-reply@acme.test")["name"] == "Acme"
    assert query(layouts.layout_body, ws, "base") == "<html>{{ content }}</html>"
    again = apply(database_url, workspace, path)
    assert again == [line.replace("create", "unchanged") for line in planned]
    path.write_text(
        RESOURCES.replace('value: "bye"', 'value: "ciao"').replace("port: 587", "port: 25")
    )
    assert apply(database_url, workspace, path) == [
        'unchanged transactional message "password_reset"',
        'update snippet "footer": value',
        'unchanged sender identity "no-reply@acme.test"',
        'unchanged layout "base"',
        'update provider "email": config.port',
    ]
    assert query(snippets.values, ws) == {"footer": "ciao"}
