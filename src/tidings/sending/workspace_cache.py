"""Each workspace's message-building resources, kept per process and checked against the
workspace's `resources_version` by every send that uses them.

A transactional send used to read its template, the template's content, the
layout, every snippet, the sender identities and the tracking secret: six
statements of the eight a send costs, the same for every send of a
workspace. `current_with_person` reads the workspace's `resources_version`
and the tracking secret (never kept: a secret made by a transaction that
then rolled back must not outlive it) in the send's first statement, with
the person and their attributes, and answers this process's `Resources` for
the version: the same object for as long as the
version stays, a fresh one as soon as it changed. A `Resources` reads each
thing on first use and keeps it.

Why this is as fresh as reading them: every change to a template, a content,
a layout, a snippet or a sender identity sets a new version in its own
transaction (`templates/version.bump`, called by the storage functions the
App API, `tidings apply` and the web UI share). A send that reads the version
a change committed builds from a new `Resources`, in whatever process it
runs. The version is read before anything the send takes from the cache, so
what a `Resources` holds is at least as new as its version: content read
after a concurrent change committed is kept under the older version, which
the next send finds changed and drops. A send in the same transaction as
a change not yet committed (the writer's batch) keeps what it saw under the
change's new version, a value no later change makes again
(`templates/version.py`): a rollback leaves nothing reachable behind.

Entries are kept per engine (a database) and per workspace, and only what
exists is kept: a template a send names that does not exist is read again by
the next such send (nothing grows with what clients ask for).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from tidings.db import raw
from tidings.people.identifiers import Identifier
from tidings.people.store import COLUMNS, Person
from tidings.providers import addresses
from tidings.reporting.links import SECRET_NAME
from tidings.templates import layouts
from tidings.templates import transactional_messages as messages
from tidings.templates.transactional_messages import Contents, Template

# The workspace's resources version and tracking secret, the person a send names and
# their attributes: one row per attribute, or one with NULL person columns when nobody
# is named (`%s`: the identifier's column).
_CURRENT_WITH_PERSON = (
    "SELECT w.resources_version,"
    " (SELECT value FROM workspace_secrets WHERE workspace_id = {0} AND name = {1}),"
    " p.id, p.workspace_id, p.cio_id, p.customer_id, p.email, p.created_at,"
    " a.name, a.value, a.kind"
    " FROM workspaces w"
    " LEFT JOIN people p ON p.workspace_id = w.id AND p.%s = {2}"
    " LEFT JOIN attributes a ON a.person_id = p.id"
    " WHERE w.id = {3}"
)
_ALL_CONTENTS = "SELECT id, language, fields FROM transactional_contents WHERE message_id = {0}"
_SENDERS = "SELECT email, name FROM sender_identities WHERE workspace_id = {0}"
_SNIPPETS = "SELECT name, value FROM snippets WHERE workspace_id = {0}"


@dataclass
class Resources:
    """One workspace's resources as of `version`; each read on first use and kept.

    Shared by the sends of every thread: what it answers must not be changed."""

    workspace_id: int
    version: int
    _templates: dict[tuple[bool, str], Template] = field(default_factory=dict)
    _contents: dict[int, Contents] = field(default_factory=dict)
    _layouts: dict[str, str] = field(default_factory=dict)
    _snippets: dict[str, str] | None = None
    _senders: dict[str, str] | None = None  # lower-cased address: display name

    def template(self, conn: Connection, ref: int | str) -> Template | None:
        """`messages.find_ref`: the template `ref` names, if any."""
        key = (True, str(int(ref))) if messages.names_id(ref) else (False, str(ref).strip().lower())
        found = self._templates.get(key)
        if found is None:
            found = messages.find_ref(conn, self.workspace_id, ref)
            if found is not None:
                self._templates[key] = found
        return found

    def content_fields(
        self, conn: Connection, template: Template, language: str | None
    ) -> tuple[int | None, dict[str, str]]:
        """`messages.content_fields`, of the template's contents read once."""
        found = self._contents.get(template.id)
        if found is None:
            rows = raw.select_in(conn, _ALL_CONTENTS, [template.id], [])
            found = self._contents[template.id] = messages.contents_by_language(rows)
        return messages.pick_content(found, language)

    def layout_body(self, conn: Connection, name: str) -> str | None:
        """`layouts.layout_body`: the layout's source, None when there is none."""
        found = self._layouts.get(name)
        if found is None:
            found = layouts.layout_body(conn, self.workspace_id, name)
            if found is not None:
                self._layouts[name] = found
        return found

    def snippets(self, conn: Connection) -> dict[str, str]:
        """Every snippet's source by name."""
        if self._snippets is None:
            self._snippets = dict(raw.select_in(conn, _SNIPPETS, [self.workspace_id], []))
        return self._snippets

    def sender_name_for(self, conn: Connection, workspace_id: int, address: str) -> str | None:
        """`senders.sender_name_for`, of the identities read once."""
        if self._senders is None:
            rows = raw.select_in(conn, _SENDERS, [self.workspace_id], [])
            self._senders = {str(email): str(name) for email, name in rows}
        shown, email = addresses.parse(address)
        if "@" not in email:
            return None
        name = self._senders.get(email.lower())
        if name is not None:
            return name
        return None if self._senders else shown


_lock = threading.Lock()
_kept: weakref.WeakKeyDictionary[Engine, dict[int, Resources]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SendRead:
    """What a send reads first, in one statement (`current_with_person`)."""

    resources: Resources
    secret: bytes | None
    person: Person | None  # whom the identifier names, if anyone
    attributes: list[tuple[str, str, str]]  # the person's, as (name, value, kind)


def current_with_person(conn: Connection, workspace_id: int, ident: Identifier) -> SendRead:
    """The workspace's resources as of now, its tracking secret (None until made,
    `links.read_secret`), the person `ident` names (as `store.find`) and their
    attributes, in one statement: a send's first read, which used to be three."""
    template = _CURRENT_WITH_PERSON % COLUMNS[ident.kind].name
    rows = raw.select_in(conn, template, [workspace_id, SECRET_NAME, ident.key, workspace_id], [])
    if not rows:
        return SendRead(_kept_at(conn, workspace_id, 0), None, None, [])
    first = rows[0]
    person = Person(*first[2:8]) if first[2] is not None else None
    attributes = [(row[8], row[9], row[10]) for row in rows if row[8] is not None]
    return SendRead(
        _kept_at(conn, workspace_id, int(first[0])), _secret(first[1]), person, attributes
    )


def _kept_at(conn: Connection, workspace_id: int, version: int) -> Resources:
    """This process's `Resources` of the workspace at `version` (a new one if it changed)."""
    with _lock:
        kept = _kept.setdefault(conn.engine, {})
        found = kept.get(workspace_id)
        if found is None or found.version != version:
            found = kept[workspace_id] = Resources(workspace_id, version)
    return found


def _secret(value: object) -> bytes | None:
    return None if value is None else str(value).encode()
