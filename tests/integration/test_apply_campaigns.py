"""`tidings apply` with `campaigns:` and `broadcasts:`: created, then unchanged, updated
only where the file differs, refused with the path at fault."""

from __future__ import annotations

import subprocess

from tests.support import CLI, run_cli
from tidings.campaigns import store, views

FILE = """
segments:
  - name: Pros
    conditions: {attribute: {field: plan, operator: eq, value: pro}}
campaigns:
  - name: Welcome
    state: running
    tags: [onboarding]
    trigger: {event: {name: signed_up}}
    frequency: {every: {days: 7}}
    workflow:
      - email:
          subject: "Hi {{ customer.first_name }}"
          body: "<p>Welcome</p>"
          languages:
            fr: {subject: Salut}
            de: {subject: Hallo}
      - delay: {days: 1}
      - branch:
          if: {attribute: {field: plan, operator: eq, value: pro}}
          then: [{sms: {body: Thanks}}]
      - at_local: {time: "09:00", days: [mon, tue]}
  - name: Renewal
    trigger:
      date: {attribute: renews_at, frequency: yearly, offset: {days: -3}, at: "08:30"}
broadcasts:
  - name: Outage notice
    audience: {attribute: {field: plan, operator: eq, value: pro}}
    workflow: [{email: {subject: We are back, body: Sorry}}]
"""


def apply(database_url, workspace, path, *extra):
    args = ["apply", "-f", str(path), "--database-url", database_url]
    return run_cli(*args, "--workspace-id", str(workspace.workspace_id), *extra).splitlines()


def shown(query, workspace, kind):
    return {c["name"]: c for c in query(views.list_all, workspace.workspace_id, kind)}


def test_apply_creates_then_changes_nothing(tmp_path, database_url, workspace, query):
    path = tmp_path / "workspace.yaml"
    path.write_text(FILE)
    assert apply(database_url, workspace, path, "--dry-run") == [
        'create segment "Pros"',
        'create campaign "Welcome"',
        'create campaign "Renewal"',
        'create broadcast "Outage notice"',
    ]
    assert shown(query, workspace, "campaign") == {}
    applied = apply(database_url, workspace, path)
    made = shown(query, workspace, "campaign")
    broadcasts = shown(query, workspace, "broadcast")
    assert applied[1:] == [
        f'create campaign "Welcome" (id {made["Welcome"]["id"]})',
        f'create campaign "Renewal" (id {made["Renewal"]["id"]})',
        f'create broadcast "Outage notice" (id {broadcasts["Outage notice"]["id"]})',
    ]
    welcome = made["Welcome"]
    assert (welcome["state"], welcome["tags"]) == ("running", ["onboarding"])
    assert welcome["workflow"][0]["email"]["languages"]["de"] == {"subject": "Hallo"}
    assert made["Renewal"]["date_attribute"] == "renews_at"
    assert apply(database_url, workspace, path) == [
        'unchanged segment "Pros"',
        'unchanged campaign "Welcome"',
        'unchanged campaign "Renewal"',
        'unchanged broadcast "Outage notice"',
    ]
    assert shown(query, workspace, "campaign") == made  # not even `updated` moved


def test_apply_updates_only_what_differs_and_keeps_action_ids(
    tmp_path, database_url, workspace, query
):
    path = tmp_path / "workspace.yaml"
    path.write_text(FILE)
    apply(database_url, workspace, path)
    before = shown(query, workspace, "campaign")["Welcome"]
    changed = FILE.replace("state: running", "state: stopped").replace(
        "body: Thanks", "body: Thanks a lot"
    )
    path.write_text(changed)
    planned = apply(database_url, workspace, path, "--dry-run")
    assert planned[1:3] == [
        'update campaign "Welcome": state, workflow',
        'unchanged campaign "Renewal"',
    ]
    assert apply(database_url, workspace, path)[1] == 'update campaign "Welcome": state, workflow'
    after = shown(query, workspace, "campaign")["Welcome"]
    assert after["actions"] == before["actions"]
    assert after["state"] == "stopped" and after["first_started"] == before["first_started"]
    assert after["workflow"][2]["branch"]["then"][0]["sms"]["body"] == "Thanks a lot"
    assert apply(database_url, workspace, path)[1] == 'unchanged campaign "Welcome"'


def test_a_change_made_through_the_api_is_planned_back(tmp_path, database_url, workspace, tx):
    path = tmp_path / "workspace.yaml"
    path.write_text(FILE)
    apply(database_url, workspace, path)
    ws = workspace.workspace_id

    def edit(conn):
        row = next(r for r in store.rows_of(conn, ws, "campaign") if r.name == "Welcome")
        email = store.action_rows(conn, row.id)[0]
        store.put_content(conn, ws, row.id, email.id, "", {"subject": "Edited"}, 1)

    tx(edit)
    assert apply(database_url, workspace, path)[1] == 'update campaign "Welcome": workflow'


def test_apply_refuses_a_bad_campaign(tmp_path, database_url, workspace, query):
    path = tmp_path / "workspace.yaml"
    for text, named in (
        ("campaigns:\n  - name: X\n    trigger: {event: {}}\n", "campaigns[0].trigger.event.name"),
        ("campaigns:\n  - {name: X, kind: broadcast}\n", "campaigns[0].kind"),
        ("broadcasts:\n  - {name: X, trigger: {event: {name: e}}}\n", "broadcasts[0]"),
        (
            "campaigns:\n  - {name: X, trigger: {event: {name: e}}}\n" * 1
            + "  - {name: X, trigger: {event: {name: f}}}\n",
            'campaigns: "X" appears twice',
        ),
    ):
        path.write_text(text)
        args = ["apply", "-f", str(path), "--database-url", database_url]
        args += ["--workspace-id", str(workspace.workspace_id)]
        done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and named in done.stderr, done.stderr
    assert query(views.list_all, workspace.workspace_id, "campaign") == []


def test_apply_declares_a_design_studio_email_as_an_actions_content(
    tmp_path, database_url, workspace, query, tx
):
    from tidings.templates import design_studio

    ws = workspace.workspace_id
    email = tx(design_studio.create, ws, "email", {"name": "Welcome"}, 1)["id"]
    folder = tx(design_studio.create, ws, "folder", {"name": "Drafts"}, 1)["id"]
    text = """
broadcasts:
  - name: News
    workflow:
      - email:
          from: news@example.com
          design_studio_email_id: "{0}"
          languages: {{fr: {{subject: Nouvelles, design_studio_email_id: "{0}"}}}}
"""
    path = tmp_path / "workspace.yaml"
    for wrong in (folder, "no-such-email"):
        path.write_text(text.format(wrong))
        args = ["apply", "-f", str(path), "--database-url", database_url]
        done = subprocess.run(
            [*CLI, *args, "--workspace-id", str(ws)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0, done.stderr
        assert "design_studio_email_id names no Design Studio email" in done.stderr
    assert query(views.list_all, ws, "broadcast") == []
    path.write_text(text.format(email))
    [created] = apply(database_url, workspace, path)
    assert created.startswith('create broadcast "News"')
    [action] = shown(query, workspace, "broadcast")["News"]["workflow"]
    assert action["email"]["design_studio_email_id"] == email
    assert action["email"]["languages"]["fr"]["design_studio_email_id"] == email
    assert apply(database_url, workspace, path) == ['unchanged broadcast "News"']


def test_apply_sets_the_workspaces_limits_then_leaves_them(
    tmp_path, database_url, workspace, query
):
    from tidings.campaigns import limits

    path = tmp_path / "workspace.yaml"
    path.write_text(
        "limits:\n"
        "  send_rate: {messages: 50, per: 1}\n"
        '  quiet_hours: {start: "21:00", end: "08:00", timezone: Europe/Berlin}\n'
    )
    assert apply(database_url, workspace, path) == [
        'update limits "workspace": quiet_hours, send_rate'
    ]
    assert query(limits.current, workspace.workspace_id) == {
        "send_rate": {"messages": 50, "per": 1},
        "quiet_hours": {
            "start": 21 * 60,
            "end": 8 * 60,
            "timezone": "Europe/Berlin",
            "fallback_timezone": "UTC",
        },
    }
    assert apply(database_url, workspace, path) == ['unchanged limits "workspace"']
    path.write_text("limits: {}\n")
    assert apply(database_url, workspace, path) == [
        'update limits "workspace": quiet_hours, send_rate'
    ]
    assert query(limits.current, workspace.workspace_id) == {}
    path.write_text("limits: {send_rate: {messages: 0}}\n")
    done = subprocess.run(
        [
            *CLI,
            "apply",
            "-f",
            str(path),
            "--database-url",
            database_url,
            "--workspace-id",
            str(workspace.workspace_id),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "limits.send_rate.messages" in done.stderr
