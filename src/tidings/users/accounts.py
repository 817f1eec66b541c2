"""User accounts and their roles per workspace: use cases `verb(conn, ...)` that never commit.

Emails are compared lower-cased and stored so. Every change records its
audit entry in the same transaction (`audit.record`). Passwords arrive here
already hashed: hashing takes a fifth of a second of CPU, which must not run
inside the writer's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select, update

from tidings import audit
from tidings.db.schema import ui_sessions, user_roles, users, workspaces
from tidings.errors import ApiError, bad_request, not_found
from tidings.users.roles import Role, parse_role

MAX_EMAIL = 255


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password_hash: str


@dataclass(frozen=True)
class Member:
    """A user as a workspace shows them: their role there."""

    user_id: int
    email: str
    role: str


@dataclass(frozen=True)
class Grant:
    """A workspace a user may open, with their role in it."""

    workspace_id: int
    name: str
    role: str


def normalise_email(email: str) -> str:
    """The stored form of an email address; a 400 for one that cannot be an address."""
    email = email.strip().lower()
    if not email or len(email) > MAX_EMAIL or "@" not in email or any(c.isspace() for c in email):
        raise bad_request("email must be an email address", "email")
    return email


def create_user(
    conn: Connection,
    email: str,
    password_hash: str,
    workspace_id: int,
    role: str,
    now: int,
    actor: int | None = None,
) -> int:
    """Create a user with `role` in a workspace; a 409 if the email is taken."""
    email = normalise_email(email)
    checked = _role(role)
    if conn.execute(select(users.c.id).where(users.c.email == email)).first() is not None:
        raise ApiError(409, f"a user with email {email} exists already", code="conflict")
    _workspace_exists(conn, workspace_id)
    result = conn.execute(
        insert(users).values(email=email, password_hash=password_hash, created_at=now)
    )
    (user_id,) = result.inserted_primary_key
    conn.execute(
        insert(user_roles).values(
            user_id=user_id, workspace_id=workspace_id, role=checked, granted_at=now
        )
    )
    entry = audit.Entry(
        "user.create", "user", str(user_id), workspace_id, actor, {"email": email, "role": checked}
    )
    audit.record(conn, entry, now)
    return int(user_id)


def set_role(
    conn: Connection, workspace_id: int, user_id: int, role: str, now: int, actor: int | None
) -> None:
    """Give a user `role` in a workspace (granting or changing it), audited."""
    checked = _role(role)
    if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
        raise not_found(f"no user {user_id}")
    _workspace_exists(conn, workspace_id)
    before = role_in(conn, user_id, workspace_id)
    if before == "admin" and checked != "admin":
        _not_the_last_admin(conn, workspace_id)
    if before is None:
        conn.execute(
            insert(user_roles).values(
                user_id=user_id, workspace_id=workspace_id, role=checked, granted_at=now
            )
        )
    else:
        conn.execute(
            update(user_roles)
            .where(user_roles.c.user_id == user_id, user_roles.c.workspace_id == workspace_id)
            .values(role=checked, granted_at=now)
        )
    details = {"role": checked, "before": before}
    entry = audit.Entry("user.role", "user", str(user_id), workspace_id, actor, details)
    audit.record(conn, entry, now)


def add_member(
    conn: Connection,
    workspace_id: int,
    email: str,
    password_hash: str,
    role: str,
    now: int,
    actor: int | None,
) -> bool:
    """Give the user of `email` `role` in a workspace, creating them (with `password_hash`)
    when no user has that email; whether one was created. Audited as `user.create`
    or `user.role`. The caller hashes a password whatever the outcome: which outcome
    it is, is known only inside this transaction."""
    existing = by_email(conn, email)
    if existing is None:
        create_user(conn, email, password_hash, workspace_id, role, now, actor)
        return True
    set_role(conn, workspace_id, existing.id, role, now, actor)
    return False


def revoke(conn: Connection, workspace_id: int, user_id: int, now: int, actor: int | None) -> None:
    """Take away the user's role in a workspace and end their sessions there, audited;
    a 404 when they have none, a 409 for the workspace's last admin (a workspace
    nobody can manage any more could never get one back from the UI)."""
    before = role_in(conn, user_id, workspace_id)
    if before is None:
        raise not_found(f"user {user_id} has no role in workspace {workspace_id}")
    if before == "admin":
        _not_the_last_admin(conn, workspace_id)
    conn.execute(
        delete(user_roles).where(
            user_roles.c.user_id == user_id, user_roles.c.workspace_id == workspace_id
        )
    )
    conn.execute(
        delete(ui_sessions).where(
            ui_sessions.c.user_id == user_id, ui_sessions.c.workspace_id == workspace_id
        )
    )
    details = {"before": before}
    entry = audit.Entry("user.revoke", "user", str(user_id), workspace_id, actor, details)
    audit.record(conn, entry, now)


def reset_password(
    conn: Connection,
    workspace_id: int,
    user_id: int,
    password_hash: str,
    now: int,
    actor: int | None,
) -> None:
    """Set a member's password (an admin's reset) and end all their sessions, audited; a
    404 for a user without a role in the workspace (an admin manages their own
    workspace's users, not the store's)."""
    if role_in(conn, user_id, workspace_id) is None:
        raise not_found(f"user {user_id} has no role in workspace {workspace_id}")
    _set_password(conn, user_id, password_hash, keep=None)
    entry = audit.Entry("user.password_reset", "user", str(user_id), workspace_id, actor)
    audit.record(conn, entry, now)


def change_password(
    conn: Connection,
    user_id: int,
    checked_hash: str,
    password_hash: str,
    keep_session: str,
    now: int,
) -> None:
    """The user's own change: `checked_hash` is the hash their current password was
    verified against (off the writer); a 409 if it changed since, so two changes
    at once cannot both pass on the old password. Every other session of theirs
    ends; `keep_session` (the id hash of the one asking) stays. Audited."""
    stored = conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()
    if stored is None:
        raise not_found(f"no user {user_id}")
    if stored != checked_hash:
        raise ApiError(409, "the password changed meanwhile: try again", code="conflict")
    _set_password(conn, user_id, password_hash, keep=keep_session)
    audit.record(conn, audit.Entry("user.password", "user", str(user_id), None, user_id), now)


def rehash(conn: Connection, user_id: int, checked_hash: str, fresh_hash: str) -> bool:
    """Store `fresh_hash` (the same password hashed with today's parameters, made at a
    login) in place of `checked_hash`, the hash that login verified. Nothing happens
    when the stored hash changed since (a reset or a change meanwhile wins); sessions
    stay, since the password is the same. Whether it was stored."""
    changed = conn.execute(
        update(users)
        .where(users.c.id == user_id, users.c.password_hash == checked_hash)
        .values(password_hash=fresh_hash)
    )
    return bool(changed.rowcount)


def password_hash_of(conn: Connection, user_id: int) -> str | None:
    return conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar()


def by_email(conn: Connection, email: str) -> Account | None:
    try:
        email = normalise_email(email)
    except ApiError:
        return None
    row = conn.execute(
        select(users.c.id, users.c.email, users.c.password_hash).where(users.c.email == email)
    ).first()
    return Account(row.id, row.email, row.password_hash) if row is not None else None


def role_in(conn: Connection, user_id: int, workspace_id: int) -> str | None:
    """The user's role in the workspace, or None when they have none there."""
    return conn.execute(
        select(user_roles.c.role).where(
            user_roles.c.user_id == user_id, user_roles.c.workspace_id == workspace_id
        )
    ).scalar()


def grants_of(conn: Connection, user_id: int) -> list[Grant]:
    """The workspaces the user may open, by id."""
    rows = conn.execute(
        select(workspaces.c.id, workspaces.c.name, user_roles.c.role)
        .join(user_roles, user_roles.c.workspace_id == workspaces.c.id)
        .where(user_roles.c.user_id == user_id)
        .order_by(workspaces.c.id)
    )
    return [Grant(*row) for row in rows]


def members_of(conn: Connection, workspace_id: int) -> list[Member]:
    """The users with a role in the workspace, by email."""
    rows = conn.execute(
        select(users.c.id, users.c.email, user_roles.c.role)
        .join(user_roles, user_roles.c.user_id == users.c.id)
        .where(user_roles.c.workspace_id == workspace_id)
        .order_by(users.c.email)
    )
    return [Member(*row) for row in rows]


def _set_password(conn: Connection, user_id: int, password_hash: str, keep: str | None) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))
    ended = delete(ui_sessions).where(ui_sessions.c.user_id == user_id)
    if keep is not None:
        ended = ended.where(ui_sessions.c.id_hash != keep)
    conn.execute(ended)


def _not_the_last_admin(conn: Connection, workspace_id: int) -> None:
    admins = conn.execute(
        select(func.count())
        .select_from(user_roles)
        .where(user_roles.c.workspace_id == workspace_id, user_roles.c.role == "admin")
    ).scalar_one()
    if admins <= 1:
        raise ApiError(
            409,
            "this is the workspace's last admin: make another user admin first",
            code="conflict",
        )


def _role(role: str) -> Role:
    try:
        return parse_role(role)
    except ValueError as exc:
        raise bad_request(str(exc), "role") from exc


def _workspace_exists(conn: Connection, workspace_id: int) -> None:
    if conn.execute(select(workspaces.c.id).where(workspaces.c.id == workspace_id)).first() is None:
        raise not_found(f"no workspace {workspace_id}")
