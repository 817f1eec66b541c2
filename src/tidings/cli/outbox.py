"""`tidings outbox`, `tidings rejections list` and `tidings refusals`: what was kept instead
of sent or stored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from tidings.cli.store_options import one_workspace, open_store, store_options, workspace_option


@click.command()
@store_options
@click.option("--workspace-id", type=int, default=None, help="Only this workspace's messages.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, with the message.")
def outbox(
    data_dir: str, database_url: str | None, workspace_id: int | None, limit: int, as_json: bool
) -> None:
    """List captured messages (what the capture adapter stored instead of sending), newest first."""
    from tidings.paging import PageRequest
    from tidings.providers.outbox import list_captured

    _, db = open_store(data_dir, database_url)
    with db.reader.connect() as conn:
        found = list_captured(conn, workspace_id, PageRequest(limit))["messages"]
    db.dispose()
    _print(found, as_json, _captured_line)


def _captured_line(item: dict[str, Any]) -> str:
    subject = f"  {item['subject']}" if item["subject"] else ""
    return (
        f"{_utc(item['created_at'])}  ws {item['workspace_id']}  {item['channel']:<8}"
        f" {item['delivery_id']}  {item['recipient']}{subject}"
    )


@click.group()
def rejections() -> None:
    """Pipelines messages refused without strict mode (answered 200, kept for 7 days)."""


@rejections.command("list")
@store_options
@workspace_option
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def rejections_list(
    data_dir: str, database_url: str | None, workspace_id: int | None, limit: int
) -> None:
    """Print a workspace's recent rejections, newest first, one JSON object a line."""
    from tidings.paging import PageRequest
    from tidings.pipelines.rejections import recent

    _, db = open_store(data_dir, database_url)
    with db.reader.connect() as conn:
        found = recent(conn, one_workspace(conn, workspace_id), PageRequest(limit))
    db.dispose()
    for item in found["rejections"]:
        click.echo(json.dumps(item))


@click.command()
@store_options
@click.option("--workspace-id", type=int, default=None, help="Only this workspace's refusals.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line, with the message.")
def refusals(
    data_dir: str, database_url: str | None, workspace_id: int | None, limit: int, as_json: bool
) -> None:
    """List what the ingest log acknowledged and its applier then refused, newest first.

    Without --workspace-id, every workspace's, and the messages no workspace could be
    read from (workspace 0). Kept for 30 days.
    """
    from tidings.ingest_log.refusals import recent
    from tidings.paging import PageRequest

    _, db = open_store(data_dir, database_url)
    with db.reader.connect() as conn:
        found = recent(conn, workspace_id, PageRequest(limit))["refusals"]
    db.dispose()
    _print(found, as_json, _refusal_line)


def _refusal_line(item: dict[str, Any]) -> str:
    reason = " ".join(item["message"].split())  # one line, whatever the error said
    return (
        f"{_utc(item['received_at'])}  ws {item['workspace_id']}  {item['status']} {item['code']}"
        f"  {item['kind'] or '-'}  {item['route']}  {reason}"
    )


def _print(
    items: Iterable[dict[str, Any]], as_json: bool, line: Callable[[dict[str, Any]], str]
) -> None:
    """Each item as one JSON object a line (`--json`), or as `line` has it."""
    for item in items:
        click.echo(json.dumps(item) if as_json else line(item))


def _utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
