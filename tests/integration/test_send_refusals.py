"""A send whose template does not render is answered from the read side: the writer
never runs it (one slow template there stalls every write of every workspace).

The application runs in this process, with its writer wrapped to record what
it is asked to run; requests go through `httpx.ASGITransport`.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import new_workspace
from tests.factories import push_to_a_new_device
from tidings.api.send import COMPOSE_ATTEMPTS
from tidings.app import Tidings, create_app
from tidings.config import Settings
from tidings.db.schema import deliveries
from tidings.people import service as people
from tidings.people import store as people_store
from tidings.people.identifiers import Identifier
from tidings.sending import transactional
from tidings.templates import render, senders
from tidings.workspaces.service import Credentials

FAILING = {
    "a syntax error": "{% if %}",
    "a division by zero": "{{ 1 | divided_by: 0 }}",
    "an unknown time zone": "{{ 'now' | date: '%Y', 'Mars/Olympus' }}",
}


class Client:
    """The app in this process, and the names of the functions its writer ran."""

    def __init__(self, app: Tidings, creds: Credentials) -> None:
        self.app = app
        self.creds = creds
        self.writer_ran: list[str] = []
        submit = app.writer.submit

        async def recorded(fn: Any, *args: Any) -> Any:
            self.writer_ran.append(getattr(fn, "__name__", repr(fn)))
            return await submit(fn, *args)

        submit_many = app.writer.submit_many

        async def recorded_many(fn: Any, item: Any) -> None:
            self.writer_ran.append(getattr(fn, "__name__", repr(fn)))
            await submit_many(fn, item)

        app.writer.submit = recorded  # type: ignore[method-assign]
        app.writer.submit_many = recorded_many  # type: ignore[method-assign]

    async def send(
        self, body: dict[str, Any], route: str = "email", **headers: str
    ) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            headers["Authorization"] = f"Bearer {self.creds.app_api_key}"
            return await client.post(f"/v1/send/{route}", json=body, headers=headers)


@pytest.fixture
def run(database_url: str, db: Any) -> Callable[[Callable[[Client], Awaitable[None]]], None]:
    """Run `scenario(client)` against a fresh workspace of an app in this process."""

    def run_scenario(scenario: Callable[[Client], Awaitable[None]]) -> None:
        creds = new_workspace(db)
        app = create_app(Settings(database_url=database_url, background_workers=False))

        async def main() -> None:
            app.writer.start()  # type: ignore[union-attr]  # in this process: a Writer
            try:
                await scenario(Client(app, creds))
            finally:
                await asyncio.get_running_loop().run_in_executor(None, app.close)

        asyncio.run(main())

    return run_scenario


def body(template: str, person: str = "new-person", **extra: Any) -> dict[str, Any]:
    return {
        "to": "p@x.test",
        "from": "b@x.test",
        "subject": "s",
        "body": template,
        "message_data": {"k": "v"},
        "identifiers": {"id": person},
        **extra,
    }


@pytest.mark.parametrize("template", list(FAILING.values()), ids=list(FAILING))
def test_a_template_that_does_not_render_never_reaches_the_writer(run, template):
    async def scenario(client: Client) -> None:
        for person in ("new-person", "known"):  # taking the writer's path, and prepared
            answer = await client.send(body(template, person))
            assert answer.status_code == 400, answer.text
            assert "template 'inline message', field 'body'" in answer.json()["meta"]["error"]
            assert client.writer_ran == []
            assert (await client.send(body("fine", "known"))).status_code == 200
            client.writer_ran.clear()

    run(scenario)


def test_a_render_error_names_the_line(run):
    async def scenario(client: Client) -> None:
        answer = await client.send(body("line one\n{% if %}"))
        assert answer.status_code == 400
        error = answer.json()["meta"]["error"]
        assert error.startswith("template 'inline message', field 'body', line 2: ")
        assert client.writer_ran == []

    run(scenario)


def test_a_retried_keyed_send_replays_its_answer_though_it_would_now_be_refused(run, db):
    async def scenario(client: Client) -> None:
        keyed = {"Idempotency-Key": "k1"}
        first = await client.send(body("hello", "ann"), **keyed)
        assert first.status_code == 200
        with db.writer.begin() as conn:  # from now on b@x.test is not a sender identity
            senders.create(conn, client.creds.workspace_id, "Shop", "shop@x.test", 0)
        assert (await client.send(body("hello", "ann"))).status_code == 400
        again = await client.send(body("hello", "ann"), **keyed)
        assert again.status_code == 200
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"

    run(scenario)


def render_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads `render_fields` runs on, recorded from now on."""
    threads: list[str] = []
    render_fields = render.render_fields

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return render_fields(*args, **kwargs)

    monkeypatch.setattr(render, "render_fields", recorded)
    return threads


@dataclass
class Changes:
    """How many more reads `after_reads` follows with its change (`math.inf`: all)."""

    left: float = 0


def after_reads(
    monkeypatch: pytest.MonkeyPatch, db: Any, change: Callable[[Any, int], None]
) -> Changes:
    """Run `change(conn, workspace_id)` in a write of its own right after a read that
    composes a send (a concurrent write, between that read and the send's write),
    for as many reads as the answer's `left` says."""
    prepare_send = transactional.prepare_send
    changes = Changes()

    def then_changed(conn: Any, workspace_id: int, *args: Any) -> Any:
        prepared = prepare_send(conn, workspace_id, *args)
        if changes.left > 0:
            changes.left -= 1
            with db.writer.begin() as other:
                change(other, workspace_id)
        return prepared

    monkeypatch.setattr(transactional, "prepare_send", then_changed)
    return changes


def test_sends_to_new_and_known_people_render_on_the_read_side(run, monkeypatch):
    """No send renders in the writer: not a workspace's first email (its secret is
    made first), a send to a person to create, with a template to create, or to a
    push custom_device the write stores first."""
    rendered_on = render_threads(monkeypatch)

    async def scenario(client: Client) -> None:
        assert (await client.send(body("first"))).status_code == 200
        assert client.writer_ran == ["secret", "send_prepared"]
        for person in ("new-1", "new-2", "new-person", "new-1"):
            answer = await client.send(body("<p>{{ customer.id }}</p>", person))
            assert answer.status_code == 200, answer.text
        for n in range(2):  # templates to create, twice the second
            created = body("<p>{{ customer.id }}</p>", f"p{n}")
            created.update(transactional_message_id="to-create", auto_create=True)
            assert (await client.send(created)).status_code == 200
        answer = await client.send(push_to_a_new_device("phone", "push-to-create"), "push")
        assert answer.status_code == 200, answer.text
        assert "tidings-writer" not in rendered_on
        assert len(rendered_on) == 9  # 8 sends; the first renders before and after its secret

    run(scenario)


def test_a_send_whose_person_changed_after_its_read_is_composed_again(run, db, monkeypatch):
    def delete_ann(conn: Any, workspace_id: int) -> None:
        people.delete_person(conn, workspace_id, Identifier("id", "ann"))

    changes = after_reads(monkeypatch, db, delete_ann)

    async def scenario(client: Client) -> None:
        assert (await client.send(body("first", "ann"))).status_code == 200
        client.writer_ran.clear()
        changes.left = 1
        answer = await client.send(body("again", "ann"))
        assert answer.status_code == 200, answer.text
        # stale in the bulk write, then written alone (ann is to be made again)
        assert client.writer_ran == ["send_many", "send_prepared"]
        with db.reader.connect() as conn:
            assert people_store.find(conn, client.creds.workspace_id, Identifier("id", "ann"))

    run(scenario)


def test_sends_written_together_leave_only_the_stale_one_to_compose_again(run, db, monkeypatch):
    """Sends to known people are written together (`send_many`); ann is made again
    right after her send's read, so only her send is refused by the write and
    composed again: every send is answered 200 with one delivery, hers for the
    new ann."""
    prepare_send = transactional.prepare_send
    remade = []

    def then_ann_made_again(conn: Any, workspace_id: int, request: Any, *args: Any) -> Any:
        prepared = prepare_send(conn, workspace_id, request, *args)
        if request.identifier == Identifier("id", "ann") and not remade:
            with db.writer.begin() as other:
                people.delete_person(other, workspace_id, Identifier("id", "ann"))
                remade.append(people.find_or_create(other, workspace_id, request.identifier, 0))
        return prepared

    async def scenario(client: Client) -> None:
        names = ["ann", *(f"p{n}" for n in range(20))]
        for name in names:  # known people, and the workspace's tracking secret made
            assert (await client.send(body("hi", name))).status_code == 200
        client.writer_ran.clear()
        monkeypatch.setattr(transactional, "prepare_send", then_ann_made_again)
        answers = await asyncio.gather(*(client.send(body("again", n)) for n in names))
        assert [answer.status_code for answer in answers] == [200] * len(names)
        assert client.writer_ran == ["send_many"] * (len(names) + 1)  # ann's twice
        ids = [answer.json()["delivery_id"] for answer in answers]
        with db.reader.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.id, deliveries.c.person_id).where(deliveries.c.id.in_(ids))
            ).all()
        assert len(rows) == len(names)
        assert dict(rows)[ids[0]] == remade[0].pk

    run(scenario)


def test_a_person_who_keeps_changing_under_every_read_is_a_409_never_rendered_by_the_writer(
    run, db, monkeypatch
):
    def make_ann_again(conn: Any, workspace_id: int) -> None:
        people.delete_person(conn, workspace_id, Identifier("id", "ann"))
        people.find_or_create(conn, workspace_id, Identifier("id", "ann"), 0)

    changes = after_reads(monkeypatch, db, make_ann_again)

    async def scenario(client: Client) -> None:
        assert (await client.send(body("first", "ann"))).status_code == 200
        changes.left = math.inf
        threads = render_threads(monkeypatch)
        answer = await client.send(body("again", "ann"))
        assert answer.status_code == 409, answer.text
        assert "changed while the send was composed" in answer.json()["meta"]["error"]
        assert len(threads) == COMPOSE_ATTEMPTS and "tidings-writer" not in threads

    run(scenario)


def test_a_suppressed_person_let_back_in_after_the_read_is_composed_again(run, db, monkeypatch):
    def unsuppress_ann(conn: Any, workspace_id: int) -> None:
        people.unsuppress(conn, workspace_id, Identifier("id", "ann"))

    changes = after_reads(monkeypatch, db, unsuppress_ann)

    async def scenario(client: Client) -> None:
        assert (await client.send(body("first", "someone"))).status_code == 200
        with db.writer.begin() as conn:
            people.suppress(conn, client.creds.workspace_id, Identifier("id", "ann"), 0)
        threads = render_threads(monkeypatch)
        changes.left = 1
        answer = await client.send(body("<p>{{ customer.id }}</p>", "ann"))
        assert answer.status_code == 200, answer.text
        assert threads and "tidings-writer" not in threads
        with db.reader.connect() as conn:
            made = people_store.find(conn, client.creds.workspace_id, Identifier("id", "ann"))
        assert made is not None  # sent to them, as a send after the unsuppress would be

    run(scenario)
