"""`tidings user create|grant|revoke`: users of the web UI and their roles (there is no
sign-up and no default password)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from tidings import clock
from tidings.cli.store_options import one_workspace, open_store, store_options, workspace_option
from tidings.errors import ApiError
from tidings.users import accounts, passwords, roles


@click.group()
def user() -> None:
    """Create users of the web UI and give or take away their roles."""


@user.command("create")
@store_options
@workspace_option
@click.option("--email", required=True, help="The address the user signs in with.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(roles.ROLES),
    help="admin: everything; author: edits content; viewer: reads only.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (else one is generated and printed once).",
)
def user_create(
    data_dir: str,
    database_url: str | None,
    workspace_id: int | None,
    email: str,
    role: str,
    password_stdin: bool,
) -> None:
    """Create a user with a role in a workspace; print it as one JSON object.

    Without --password-stdin the password is generated and printed in that
    object, this once: it is stored only as a scrypt hash.
    """
    password = _read_password() if password_stdin else passwords.generate_password()
    hashed = passwords.hash_password(password)
    _, db = open_store(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = one_workspace(conn, workspace_id)
            user_id = accounts.create_user(
                conn, email, hashed, workspace_id, role, int(clock.current().now())
            )
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    shown = {"user_id": user_id, "email": accounts.normalise_email(email)}
    shown |= {"workspace_id": workspace_id, "role": role}
    if not password_stdin:
        shown["password"] = password
    click.echo(json.dumps(shown))


@user.command("grant")
@store_options
@workspace_option
@click.option("--email", required=True, help="The address of an existing user.")
@click.option(
    "--role",
    required=True,
    type=click.Choice(roles.ROLES),
    help="admin: everything; author: edits content; viewer: reads only.",
)
def user_grant(
    data_dir: str, database_url: str | None, workspace_id: int | None, email: str, role: str
) -> None:
    """Give an existing user a role in a workspace (or change the one they have there);
    audited. Print it as one JSON object."""
    workspace_id, user_id = _change(
        data_dir, database_url, workspace_id, email, accounts.set_role, role
    )
    shown = {"user_id": user_id, "email": accounts.normalise_email(email)}
    click.echo(json.dumps(shown | {"workspace_id": workspace_id, "role": role}))


@user.command("revoke")
@store_options
@workspace_option
@click.option("--email", required=True, help="The address of an existing user.")
def user_revoke(
    data_dir: str, database_url: str | None, workspace_id: int | None, email: str
) -> None:
    """Take away a user's role in a workspace (never its last admin's) and end their
    sessions there; audited. Print it as one JSON object."""
    workspace_id, user_id = _change(data_dir, database_url, workspace_id, email, accounts.revoke)
    shown = {"user_id": user_id, "email": accounts.normalise_email(email)}
    click.echo(json.dumps(shown | {"workspace_id": workspace_id, "role": None}))


def _change(
    data_dir: str,
    database_url: str | None,
    workspace_id: int | None,
    email: str,
    use_case: Callable[..., None],
    *args: str,
) -> tuple[int, int]:
    """Run `use_case(conn, workspace_id, user_id, *args, now, None)` for the user of
    `email`, in one transaction; the workspace and user ids."""
    _, db = open_store(data_dir, database_url)
    try:
        with db.writer.begin() as conn:
            workspace_id = one_workspace(conn, workspace_id)
            account = accounts.by_email(conn, email)
            if account is None:
                missing = f"no user has the email {email.strip().lower()}"
                raise click.ClickException(f"{missing}: `tidings user create` makes one")
            use_case(conn, workspace_id, account.id, *args, int(clock.current().now()), None)
    except ApiError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        db.dispose()
    return workspace_id, account.id


def _read_password() -> str:
    """The password on standard input, without the line end a shell adds."""
    password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    problem = passwords.check_new_password(password)
    if problem is not None:
        raise click.UsageError(problem)
    return password
