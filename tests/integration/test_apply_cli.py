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
    assert apply(database_url, workspace, path) == planned
    made = {s["name"]: s for s in query(segments.list_all, ws)}
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
