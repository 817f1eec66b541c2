"""`tidings apply`: segments, templates, providers and campaigns declared in a YAML file."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from tidings import clock
from tidings.cli.store_options import one_workspace, open_store, store_options, workspace_option

if TYPE_CHECKING:
    from tidings.workspaces.apply import Document


@click.command("apply")
@store_options
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@workspace_option
def apply_file(
    data_dir: str, database_url: str | None, path: str, dry_run: bool, workspace_id: int | None
) -> None:
    """Create or update what a YAML file declares: segments, transactional messages,
    snippets, sender identities, layouts, providers, campaigns and broadcasts
    (matched by name)."""
    from tidings.errors import ApiError
    from tidings.workspaces import apply

    desired = read_file(path)
    _, db = open_store(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = one_workspace(conn, workspace_id)
            changes = apply.plan(desired, apply.current(conn, workspace_id))
            lines = [change.describe() for change in changes]
            if not dry_run:
                lines = apply.apply_plan(conn, workspace_id, changes, int(clock.current().now()))
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    for line in lines:
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing changed", err=True)


def read_file(path: str) -> Document:
    """What the YAML file at `path` declares; a one-line ClickException if it cannot be
    read or is not valid."""
    import yaml  # PyYAML ships no annotations: pyproject.toml's mypy overrides

    from tidings.errors import ApiError
    from tidings.workspaces import apply

    try:
        with open(path, encoding="utf-8") as handle:
            return apply.parse(yaml.safe_load(handle))
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    except ApiError as exc:
        raise click.ClickException(f"{path}: {exc.message}") from exc
