"""The CLI never makes a store by accident: only serve, migrate and workspace create do.

Run in the wrong folder, every other command stops and says where it looked
and how to name the store, instead of creating an empty one there.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, PG_ADMIN, fresh_database
from tests.support import CLI


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )


def readers(folder: Path) -> list[list[str]]:
    (folder / "plan.yaml").write_text("segments: []\n")
    (folder / "people.csv").write_text("id,name\n1,Ann\n")
    return [
        ["workspace", "list"],
        ["workspace", "rotate-keys"],
        ["outbox"],
        ["rejections", "list"],
        ["refusals"],
        ["apply", "-f", "plan.yaml"],
        ["import", "people", "people.csv"],
        ["user", "create", "--email", "a@example.test", "--role", "admin"],
    ]


def assert_no_store(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 1, done.stderr
    assert "no store found" in done.stderr
    for named in ("--data-dir", "TIDINGS_DATA_DIR", "--database-url", "TIDINGS_DATABASE_URL"):
        assert named in done.stderr


def test_commands_outside_the_data_folder_make_no_store(tmp_path: Path) -> None:
    for args in readers(tmp_path):
        done = cli(*args, cwd=tmp_path)
        assert_no_store(done)
        assert str(Path("tidings-data") / "tidings.sqlite3") in done.stderr
        assert not (tmp_path / "tidings-data").exists(), args


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_url_with_no_schema_is_not_taken_for_a_store(
    backend: str, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path) as url:
        for args in readers(tmp_path):
            assert_no_store(cli(*args, "--database-url", url, cwd=tmp_path))
        assert not (tmp_path / "tidings.sqlite3").exists()


def test_migrate_and_workspace_create_make_the_store(tmp_path: Path) -> None:
    assert cli("migrate", cwd=tmp_path).returncode == 0
    assert (tmp_path / "tidings-data" / "tidings.sqlite3").is_file()
    assert cli("workspace", "list", cwd=tmp_path).stdout == ""

    other = tmp_path / "other"
    made = cli("workspace", "create", "--name", "first", "--data-dir", str(other), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    listed = cli("workspace", "list", "--data-dir", str(other), cwd=tmp_path)
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["first"]


def test_a_store_without_workspaces_says_so_rather_than_several(tmp_path: Path) -> None:
    assert cli("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "plan.yaml").write_text("segments: []\n")
    done = cli("apply", "-f", "plan.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "no workspace yet" in done.stderr
    assert "several" not in done.stderr


def test_rejections_list_defaults_to_the_only_workspace(tmp_path: Path) -> None:
    assert cli("workspace", "create", "--name", "only", cwd=tmp_path).returncode == 0
    done = cli("rejections", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs PostgreSQL")
def test_a_database_that_cannot_be_opened_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    missing = PG_ADMIN.rsplit("/", 1)[0] + "/tidings_no_such_database"
    done = cli("workspace", "list", "--database-url", missing, cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot open PostgreSQL" in done.stderr and "tidings_no_such_database" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_pooler_in_the_url_is_one_line_naming_the_choices(tmp_path: Path) -> None:
    url = PG_ADMIN.rsplit("/", 1)[0] + "/tidings?pooler=statement"
    done = cli("migrate", "--database-url", url, cwd=tmp_path)
    assert done.returncode == 1
    assert "pooler='statement'" in done.stderr and "session, transaction" in done.stderr
    assert "Traceback" not in done.stderr
