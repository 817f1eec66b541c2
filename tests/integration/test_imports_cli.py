"""`tidings import people|events FILE`, run as a subprocess."""

from __future__ import annotations

import json
import subprocess

from tests.support import CLI, run_cli
from tidings.people import read


def tidings(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_people_with_bad_rows_exit_0_and_report_lines(tmp_path, database_url, workspace, query):
    path = tmp_path / "people.csv"
    path.write_bytes(b'id,plan,note\nc1,pro,"one\ntwo"\n,free,x\nc3,basic,y,extra\nc4,team,z\n')
    ws = str(workspace.workspace_id)
    done = tidings(
        "import", "people", str(path), "--database-url", database_url, "--workspace-id", ws
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == "rows: 4, imported: 2, failed: 2, skipped: 0\n"
    assert "line 4: id is required to name the person" in done.stderr
    assert "line 5: 4 cells but the header names 3" in done.stderr
    shown = query(read.attributes_of, workspace.workspace_id, "c1", "id")["customer"]
    assert shown["attributes"]["note"] == "one\ntwo"


def test_events_jsonl_by_email(tmp_path, database_url, workspace, query):
    path = tmp_path / "events.jsonl"
    lines = [{"email": "cli@example.com", "name": "signup", "event_id": "s1"}] * 2
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ws = str(workspace.workspace_id)
    out = run_cli(
        "import",
        "events",
        str(path),
        "--identifier",
        "email",
        "--database-url",
        database_url,
        "--workspace-id",
        ws,
    )
    assert out == "rows: 2, imported: 2, failed: 0, skipped: 0\n"
    found = query(read.by_email, workspace.workspace_id, "cli@example.com")
    assert len(found["results"]) == 1


def test_a_file_that_cannot_be_imported_exits_1(tmp_path, database_url, workspace):
    path = tmp_path / "events.csv"
    path.write_text("id,event\n1,x\n")
    ws = str(workspace.workspace_id)
    done = tidings(
        "import", "events", str(path), "--database-url", database_url, "--workspace-id", ws
    )
    assert done.returncode == 1
    assert "no 'name' column" in done.stderr


def test_the_only_workspace_is_the_default(tmp_path):
    data_dir = str(tmp_path / "data")
    run_cli("workspace", "create", "--name", "only", "--data-dir", data_dir)
    path = tmp_path / "people.csv"
    path.write_text("email,plan\nsolo@example.com,pro\n")
    out = run_cli("import", "people", str(path), "--identifier", "email", "--data-dir", data_dir)
    assert out == "rows: 1, imported: 1, failed: 0, skipped: 0\n"
    bad = tidings("import", "events", str(path), "--process", "only_new", "--data-dir", data_dir)
    assert bad.returncode == 2 and "only all and only_existing" in bad.stderr
