"""`tidings workspace create | list | rotate-keys`: workspaces and their keys."""

from __future__ import annotations

import json

import click

from tidings import clock
from tidings.cli.store_options import one_workspace, open_store, store_options, workspace_option
from tidings.workspaces import service as workspaces


@click.group()
def workspace() -> None:
    """Create and list workspaces, and replace their keys."""


@workspace.command("create")
@store_options
@click.option("--name", required=True)
@click.option("--site-id", default=None)
@click.option("--track-api-key", default=None)
@click.option("--app-api-key", default=None)
@click.option("--cdp-write-key", default=None)
def workspace_create(
    data_dir: str,
    database_url: str | None,
    name: str,
    site_id: str | None,
    track_api_key: str | None,
    app_api_key: str | None,
    cdp_write_key: str | None,
) -> None:
    """Create a workspace and print its keys as one JSON object."""
    from tidings.errors import ApiError

    _, db = open_store(data_dir, database_url, create=True)
    try:
        with db.writer.begin() as conn:
            creds = workspaces.create_workspace(
                conn,
                name,
                clock.current().now(),
                site_id=site_id,
                track_api_key=track_api_key,
                app_api_key=app_api_key,
                cdp_write_key=cdp_write_key,
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    click.echo(json.dumps(creds.public()))


@workspace.command("list")
@store_options
def workspace_list(data_dir: str, database_url: str | None) -> None:
    """List workspaces (ids, names and site ids; never keys)."""
    _, db = open_store(data_dir, database_url)
    with db.reader.connect() as conn:
        rows = workspaces.list_workspaces(conn)
    db.dispose()
    for ws in rows:
        click.echo(json.dumps({"workspace_id": ws.id, "name": ws.name, "site_id": ws.site_id}))


@workspace.command("rotate-keys")
@store_options
@workspace_option
@click.option(
    "--kind",
    "kinds",
    type=click.Choice(list(workspaces.KEY_KINDS)),
    multiple=True,
    help="Only this kind of key (repeatable): track (Track API key), app (App API key), "
    "cdp (Pipelines write key). Default: all three.",
)
def workspace_rotate_keys(
    data_dir: str, database_url: str | None, workspace_id: int | None, kinds: tuple[str, ...]
) -> None:
    """Replace a workspace's keys and print the new ones as one JSON object, once.

    The old keys stop working at once; a running server may still accept one
    it checked in the last 10 seconds. Recorded in the audit log (by no user).
    """
    from tidings import audit

    _, db = open_store(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = one_workspace(conn, workspace_id)
            chosen = list(kinds or workspaces.KEY_KINDS)
            entry = audit.Entry(
                "workspace.rotate_keys",
                "workspace",
                str(workspace_id),
                workspace_id,
                details={"kinds": chosen},
            )
            args = (workspace_id, chosen)
            new = audit.audited(
                conn, entry, int(clock.current().now()), workspaces.rotate_keys, *args
            )
    finally:
        db.dispose()
    click.echo(json.dumps({"workspace_id": workspace_id, **new}))
