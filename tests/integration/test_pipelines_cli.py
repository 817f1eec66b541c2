"""`tidings rejections list`: what the Pipelines API refused, for an operator."""

import json

from tests.support import run_cli
from tidings.errors import ApiError
from tidings.pipelines import ingest, rejections

NOW = 1_700_000_000


def test_rejections_list_prints_the_newest_first(tx, workspace, other_workspace, database_url):
    ws = workspace.workspace_id
    for n in range(3):
        refused = rejections.rejected(ApiError(400, f"bad {n}"), {"type": "track", "n": n})
        tx(ingest.ingest, ws, [refused], NOW + n, False)
    args = ["rejections", "list", "--database-url", database_url, "--workspace-id"]
    lines = run_cli(*args, str(ws), "--limit", "2").splitlines()
    shown = [json.loads(line) for line in lines]
    assert [(r["message"], r["reason"], r["type"]) for r in shown] == [
        ("bad 2", "invalid_request", "track"),
        ("bad 1", "invalid_request", "track"),
    ]
    assert run_cli(*args, str(other_workspace.workspace_id)) == ""
