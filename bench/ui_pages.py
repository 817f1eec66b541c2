"""The web UI's pages on a big workspace: each page's p50 and p95 answer time.

    .venv/bin/python bench/ui_pages.py                     # 1,000,000 people, 10,000,000 events
    .venv/bin/python bench/ui_pages.py --people 100000     # a quicker look
    .venv/bin/python bench/ui_pages.py --only people       # pages whose name starts so

Issue 17 asks that every page answer in under 100 ms at p95 with 1,000,000
people and 10,000,000 events in the store. What it does:

1. builds (or reuses, from `--data-dir`) a SQLite store: the people, 20
   attributes each and the events of `bench/synthetic.py`, then, through the
   code the server runs, what the other pages show: the segments, messages,
   snippets, layouts, a campaign, a broadcast, a provider and a sender
   identity of `WORKSPACE`, a newsletter, a (disabled) reporting webhook,
   a user; and, written in bulk in the shapes Tidings writes, one campaign
   journey and message for every tenth person, transactional messages for
   as many more, their metrics, jobs and audit entries. The
   dashboard's counters are written for the eight days before each run.
2. runs `tidings serve` on it (background workers on, as a user runs it),
   signs in through the login form, and asks each page of `pages()` `--repeat`
   times, one request at a time, after two unmeasured requests; pages about
   one person or message take a different one each time.
3. prints each page's p50, p95 and the largest time, the target's verdict,
   and, as the baseline measured in the same run, `/healthz` (the HTTP stack
   and the session-less path): each page's p95 is also shown as a multiple of
   the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402  (the people, attributes and events)

from tidings.campaigns import newsletter_requests as asks  # noqa: E402
from tidings.campaigns import newsletters  # noqa: E402
from tidings.db.engine import open_database  # noqa: E402
from tidings.reporting import webhooks  # noqa: E402
from tidings.runtime import wiring  # noqa: E402
from tidings.segments import membership  # noqa: E402
from tidings.users import accounts, passwords  # noqa: E402
from tidings.workspaces import apply  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 100.0
EMAIL, PASSWORD = "bench@example.com", "a benchmark passphrase"
DAY = 86_400
PRO = {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}

WORKSPACE: dict[str, Any] = {
    "segments": [
        {"name": "Pros", "conditions": PRO},
        {
            "name": "Buyers",
            "conditions": {
                "event": {"name": "purchase", "count": {"gte": 2}, "within_last": {"days": 60}}
            },
        },
        {"name": "VIPs"},  # manual
    ],
    "sender_identities": [{"email": "hello@example.com", "name": "Bench"}],
    "providers": [{"channel": "email", "kind": "capture"}],  # what Settings pages show
    "layouts": [{"name": "base", "body": "<html><body>{{ content }}</body></html>"}],
    "snippets": [{"name": "footer", "value": "<p>Bench Inc., {{ customer.city }}</p>"}],
    "transactional_messages": [
        {
            "name": "Receipt",
            "trigger_name": "receipt",
            "channel": "email",
            "contents": {
                "": {
                    "from": "Bench <hello@example.com>",
                    "subject": "Your receipt, {{ customer.first_name }}",
                    "body": "<p>Thanks for order {{ trigger.order }}</p>{{ snippets.footer }}",
                    "layout": "base",
                }
            },
        }
    ],
    "campaigns": [
        {
            "name": "Welcome",
            "state": "running",
            "trigger": {"event": {"name": "signed_in"}},
            "workflow": [
                {"email": {"from": "hello@example.com", "subject": "Hi", "body": "<p>Hi</p>"}},
                {"delay": {"days": 1}},
                {"email": {"from": "hello@example.com", "subject": "Tips", "body": "<p>1</p>"}},
                {"delay": {"days": 2}},
                {"email": {"from": "hello@example.com", "subject": "More", "body": "<p>2</p>"}},
            ],
        }
    ],
    "broadcasts": [
        {
            "name": "Outage notice",
            "audience": PRO,
            "workflow": [
                {"email": {"from": "hello@example.com", "subject": "Back", "body": "<p>ok</p>"}}
            ],
        }
    ],
}


NEWSLETTER = {
    "name": "Monthly news",
    "type": "email",
    "recipients": PRO,
    "from": "hello@example.com",
    "subject": "News for {{ customer.first_name }}",
    "body": "<p>What happened this month</p>",
}


WEBHOOK = {  # disabled: nothing is posted while the bench runs
    "name": "Warehouse",
    "endpoint": "https://hooks.example.com/bench",
    "events": ["email_sent", "email_delivered"],
    "disabled": True,
}


# -- the store ------------------------------------------------------------------


def ensure_store(data_dir: Path, people: int, events: int, seed: int, regenerate: bool) -> Path:
    """`bench/synthetic.py`'s store, dressed (`dress`), kept apart from its own."""
    rng = random.Random(seed + 1)
    return synthetic.ensure_store(
        data_dir,
        people,
        events,
        seed,
        regenerate,
        name="ui",
        then=lambda path: dress(path, people, rng),
        version=3,
    )


def dress(path: Path, people: int, rng: random.Random) -> None:
    """What the pages besides People and Activity show, made by the server's own use
    cases where one thing is made, in bulk where there are many."""
    db = open_database(f"sqlite:///{path}")
    wiring.wire()
    now = synthetic.NOW
    with db.writer.begin() as conn:
        desired = apply.parse(WORKSPACE)
        for line in apply.apply_plan(conn, 1, apply.plan(desired, apply.current(conn, 1)), now):
            print(f"  {line}", flush=True)
        accounts.create_user(conn, EMAIL, passwords.hash_password(PASSWORD), 1, "admin", now)
        newsletters.create(conn, 1, asks.parse_new(NEWSLETTER, now), now)
        webhooks.create(conn, 1, webhooks.parse(WEBHOOK, partial=False), now)
    print("  building the segments", flush=True)
    with db.writer.begin() as conn:
        ids = dict(conn.exec_driver_sql("SELECT name, id FROM segments").all())
        for name in ("Pros", "Buyers"):
            membership.build_segment(conn, 1, ids[name], now)
        members = [(ids["VIPs"], pk, 1, now) for pk in rng.sample(range(1, people + 1), 1000)]
        conn.exec_driver_sql(
            "INSERT INTO segment_members (segment_id, person_id, workspace_id, added_at)"
            " VALUES (?, ?, ?, ?)",
            members,
        )
    db.dispose()
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA synchronous=OFF")
    _journeys_and_messages(raw, people, rng, now)
    _audit(raw, rng, now)
    raw.execute("ANALYZE")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()


def _journeys_and_messages(
    raw: sqlite3.Connection, people: int, rng: random.Random, now: int
) -> None:
    """One Welcome journey for every tenth person, at one of its steps, with the
    messages it sent; one transactional receipt for every tenth person too; and the
    metrics of each message (sent, delivered, some opened and clicked)."""
    campaign_id, message_id = raw.execute(
        "SELECT (SELECT id FROM campaigns WHERE name = 'Welcome'),"
        " (SELECT id FROM transactional_messages WHERE name = 'Receipt')"
    ).fetchone()
    actions = [
        row[0]
        for row in raw.execute(
            "SELECT id FROM campaign_actions WHERE campaign_id = ? ORDER BY ordinal", (campaign_id,)
        )
    ]
    emails = actions[0::2]
    print(f"  writing {people // 5:,} messages and {people // 10:,} journeys", flush=True)
    raw.execute("BEGIN")
    for n, pk in enumerate(range(1, people + 1, 10)):
        at = now - rng.randrange(30 * DAY)
        step = rng.randrange(len(actions))
        finished = step == len(actions) - 1
        raw.execute(
            "INSERT INTO journeys (id, workspace_id, campaign_id, person_id, entry_key, state,"
            " action_id, visit, due_at, context, started_at, activated_at, messaged_at, ended_at,"
            " created_at, updated_at) VALUES (?, 1, ?, ?, '0', ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?)",
            (
                n + 1,
                campaign_id,
                pk,
                "finished" if finished else "active",
                actions[step],
                step + 1,
                None if finished else at + (step + 1) * DAY,
                at,
                at,
                at,
                at + step * DAY if finished else None,
                at,
                at,
            ),
        )
        for visit in range(step + 1):
            sent = actions[visit] in emails
            delivery = f"c{n + 1}-{visit}"
            raw.execute(
                "INSERT INTO journey_steps (journey_id, visit, workspace_id, campaign_id,"
                " action_id, outcome, delivery_id, at) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
                (
                    n + 1,
                    visit + 1,
                    campaign_id,
                    actions[visit],
                    "sent" if sent else "done",
                    delivery if sent else None,
                    at + visit * DAY,
                ),
            )
            if sent:
                _message(
                    raw, rng, delivery, pk, at + visit * DAY, campaign=(campaign_id, actions[visit])
                )
        _message(
            raw, rng, f"t{n + 1}", pk + 5 if pk + 5 <= people else pk, at, transactional=message_id
        )
        if n % 10_000 == 9_999:
            raw.execute("COMMIT")
            raw.execute("BEGIN")
    raw.execute("COMMIT")


def _message(
    raw: sqlite3.Connection,
    rng: random.Random,
    delivery_id: str,
    pk: int,
    at: int,
    campaign: tuple[int, int] | None = None,
    transactional: int | None = None,
) -> None:
    state = rng.choices(("sent", "failed", "suppressed"), (96, 3, 1))[0]
    campaign_id, action_id = campaign or (None, None)
    raw.execute(
        "INSERT INTO deliveries (id, workspace_id, person_id, channel, recipient, created_at,"
        " source, transactional_message_id, state, subject, payload, options, attempts, sent_at,"
        " provider_message_id, failure_message, updated_at, campaign_id, action_id)"
        " VALUES (?, 1, ?, 'email', ?, ?, ?, ?, ?, ?, ?, '{}', 1, ?, ?, ?, ?, ?, ?)",
        (
            delivery_id,
            pk,
            f"user{pk - 1}@example.com",
            at,
            "campaign" if campaign else "transactional",
            transactional,
            state,
            "Your receipt" if transactional else "Hi",
            json.dumps({"html": "<p>Hello there</p>", "from": "hello@example.com"}),
            at if state == "sent" else None,
            f"<{delivery_id}@bench>" if state == "sent" else None,
            "550 mailbox unavailable" if state == "failed" else None,
            at,
            campaign_id,
            action_id,
        ),
    )
    if state != "sent":
        return
    metrics = ["sent", "delivered"]
    if rng.random() < 0.4:
        metrics.append("opened")
        if rng.random() < 0.3:
            metrics.append("clicked")
    raw.executemany(
        "INSERT INTO delivery_metrics (workspace_id, delivery_id, metric, timestamp, data)"
        " VALUES (1, ?, ?, ?, '{}')",
        [(delivery_id, metric, at + i * 60) for i, metric in enumerate(metrics)],
    )


def _audit(raw: sqlite3.Connection, rng: random.Random, now: int) -> None:
    raw.execute("BEGIN")
    raw.executemany(
        "INSERT INTO audit_log (workspace_id, user_id, action, target_type, target_id, details,"
        " at) VALUES (1, 1, ?, ?, ?, '{}', ?)",
        [
            (action, action.split(".")[0], str(rng.randrange(1, 100)), t)
            for action, t in (
                (
                    rng.choice(("segment.update", "template.update", "campaign.start")),
                    now - rng.randrange(90 * DAY),
                )
                for _ in range(20_000)
            )
        ],
    )
    raw.execute("COMMIT")


def fresh_counters(path: Path, rng: random.Random) -> None:
    """What housekeeping keeps for days only, written for the days before now: the
    dashboard's counters (events per minute, messages per day), as ingest and
    metrics write them, and finished jobs."""
    now = int(time.time())
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN")
    raw.execute("DELETE FROM event_minutes")
    raw.execute("DELETE FROM delivery_days")
    raw.execute("DELETE FROM jobs")  # housekeeping prunes finished jobs after 7 days
    raw.executemany(
        "INSERT INTO jobs (workspace_id, kind, payload, state, attempts, max_attempts, run_at,"
        " created_at, updated_at) VALUES (1, ?, '{}', 'done', 1, 5, ?, ?, ?)",
        [
            (rng.choice(("export", "import", "segment_build")), t, t, t)
            for t in sorted(now - rng.randrange(6 * DAY) for _ in range(5_000))
        ],
    )
    first = (now - 8 * DAY) // 60 * 60
    raw.executemany(
        "INSERT INTO event_minutes (workspace_id, minute, count) VALUES (1, ?, ?)",
        [(minute, rng.randrange(100, 2000)) for minute in range(first, now, 60)],
    )
    raw.executemany(
        "INSERT INTO delivery_days (workspace_id, day, metric, count) VALUES (1, ?, ?, ?)",
        [
            (day, metric, rng.randrange(1000, 10_000))
            for day in range((now - 32 * DAY) // DAY * DAY, now, DAY)
            for metric in ("sent", "delivered", "opened", "clicked", "bounced")
        ],
    )
    raw.execute("COMMIT")
    raw.close()


# -- the server and the pages ---------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Ids the pages about one thing take, drawn from the store."""

    people: list[tuple[str, str, str]]  # cio_id, customer_id, email
    deliveries: list[str]
    ids: dict[str, int]  # names of segments, campaigns, ... to ids
    count: int  # people in the store


def sample(path: Path, people: int, rng: random.Random) -> Sample:
    raw = sqlite3.connect(path)
    pks = rng.sample(range(1, people + 1), 200)
    marks = ",".join("?" * len(pks))
    chosen = raw.execute(
        f"SELECT cio_id, customer_id, email FROM people WHERE id IN ({marks})", pks
    ).fetchall()
    # every tenth person has a receipt, t1 ... (`_journeys_and_messages`)
    deliveries = [f"t{rng.randrange(1, people // 10)}" for _ in range(200)]
    ids = {f"segment {name}": pk for name, pk in raw.execute("SELECT name, id FROM segments")}
    ids |= {
        f"{kind} {name}": pk
        for kind, name, pk in raw.execute("SELECT kind, name, id FROM campaigns")
    }
    ids |= {
        f"message {name}": pk
        for name, pk in raw.execute("SELECT name, id FROM transactional_messages")
    }
    ids["job"] = raw.execute("SELECT max(id) FROM jobs").fetchone()[0]
    ids["sender"] = raw.execute("SELECT min(id) FROM sender_identities").fetchone()[0]
    ids["webhook"] = raw.execute("SELECT min(id) FROM reporting_webhooks").fetchone()[0]
    raw.close()
    return Sample(chosen, deliveries, ids, people)


def pages(s: Sample) -> dict[str, Callable[[random.Random], str]]:
    """Each page's name and the URL of one request of it."""

    def person(rng: random.Random) -> tuple[str, str, str]:
        return rng.choice(s.people)

    return {
        "dashboard": lambda rng: "/",
        "people": lambda rng: "/people",
        "people, next page": lambda rng: "/people?start="
        + _cursor(rng.randrange(1, s.count - 100)),
        "people, email search": lambda rng: "/people?q=" + person(rng)[2],
        "people, id search": lambda rng: "/people?q=" + person(rng)[1],
        "people, a prefix": lambda rng: f"/people?q=user{rng.randrange(10, 99)}",
        "people, attribute (common)": lambda rng: "/people?attr=plan&op=eq&value=enterprise",
        "people, attribute (rare)": lambda rng: "/people?attr=company&op=eq&value=Company+"
        + str(rng.randrange(20_000)),
        "people, attribute (one)": lambda rng: "/people?attr=email&op=eq&value=" + person(rng)[2],
        "people, in a segment": lambda rng: f"/people?segment={s.ids['segment VIPs']}",
        "person": lambda rng: "/people/" + person(rng)[0],
        "activity": lambda rng: "/activity",
        "activity, by name": lambda rng: "/activity?name=purchase",
        "activity, of a person": lambda rng: "/activity?person=" + person(rng)[1],
        "activity, rejections": lambda rng: "/activity/rejections",
        "deliveries": lambda rng: "/deliveries",
        "deliveries, failed": lambda rng: "/deliveries?status=failed",
        "deliveries, of a campaign": lambda rng: "/deliveries?campaign="
        + str(s.ids["campaign Welcome"]),
        "delivery": lambda rng: "/deliveries/" + rng.choice(s.deliveries),
        "templates": lambda rng: "/templates",
        "template": lambda rng: f"/templates/{s.ids['message Receipt']}",
        "snippet": lambda rng: "/snippets/footer",
        "layout": lambda rng: "/layouts/base",
        "segments": lambda rng: "/segments",
        "segment": lambda rng: f"/segments/{s.ids['segment Pros']}",
        "segment, edit": lambda rng: f"/segments/{s.ids['segment Buyers']}/edit",
        "segment, new": lambda rng: "/segments/new",
        "campaigns": lambda rng: "/campaigns",
        "campaign": lambda rng: f"/campaigns/{s.ids['campaign Welcome']}",
        "broadcasts": lambda rng: "/broadcasts",
        "broadcast": lambda rng: f"/broadcasts/{s.ids['broadcast Outage notice']}",
        "newsletters": lambda rng: "/newsletters",
        "newsletter": lambda rng: f"/newsletters/{s.ids['newsletter Monthly news']}",
        "jobs": lambda rng: "/jobs",
        "job": lambda rng: f"/jobs/{s.ids['job']}",
        "settings": lambda rng: "/settings",
        "settings, provider": lambda rng: "/settings/providers/email",
        "settings, sender identity": lambda rng: f"/settings/senders/{s.ids['sender']}",
        "settings, webhook": lambda rng: f"/settings/webhooks/{s.ids['webhook']}",
        "suppressions": lambda rng: "/suppressions",
        "users": lambda rng: "/users",
        "audit log": lambda rng: "/audit",
        "account": lambda rng: "/account",
    }


def _cursor(after: int) -> str:
    """The People page's cursor after person `after` (paging.cut's encoding)."""
    from tidings import paging

    return paging.encode_cursor((after,))


@contextmanager
def serving(path: Path, port: int, log: Path) -> Iterator[str]:
    cmd = [sys.executable, "-m", "tidings", "serve", "--database-url", f"sqlite:///{path}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the server exited:\n" + log.read_text()[-3000:])
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def signed_in(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60, headers={"origin": url})
    answer = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": "/"})
    if answer.status_code != 303:
        raise RuntimeError(f"login answered {answer.status_code}: {answer.text[:500]}")
    return client


def measure(
    client: httpx.Client, url_of: Callable[[random.Random], str], repeat: int, rng: random.Random
) -> list[float]:
    times = []
    for i in range(repeat + 2):
        url = url_of(rng)
        started = time.perf_counter()
        answer = client.get(url)
        took = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"GET {url} answered {answer.status_code}: {answer.text[:300]}")
        if i >= 2:
            times.append(took)
    return times


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--events-per-person", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/tidings-bench"))
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--repeat", type=int, default=40, help="measured requests per page")
    parser.add_argument("--only", default="", help="measure only pages whose name starts so")
    parser.add_argument("--port", type=int, default=8731)
    args = parser.parse_args(argv)

    path = ensure_store(
        args.data_dir, args.people, args.events_per_person, args.seed, args.regenerate
    )
    rng = random.Random(args.seed)
    fresh_counters(path, rng)
    chosen = sample(path, args.people, rng)
    rows = []
    with serving(path, args.port, args.data_dir / "ui-server.log") as url:
        client = signed_in(url)
        baseline = measure(client, lambda rng: "/healthz", args.repeat, rng)
        base95 = p95(baseline)
        rows.append(("baseline: /healthz", statistics.median(baseline), base95, max(baseline)))
        for name, url_of in pages(chosen).items():
            if not name.startswith(args.only):
                continue
            times = measure(client, url_of, args.repeat, rng)
            rows.append((name, statistics.median(times), p95(times), max(times)))
            print(f"  {name}: p95 {rows[-1][2]:.1f} ms", flush=True)
    print(
        f"\n{args.people:,} people, {args.people * args.events_per_person:,} events;"
        f" {args.repeat} requests a page, one at a time; {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.2f}\n"
    )
    print(f"| page | p50 ms | p95 ms | max ms | p95 / baseline | p95 < {TARGET_MS:.0f} ms |")
    print("|---|---|---|---|---|---|")
    slow = 0
    for name, median, high, top in rows:
        met = "" if name.startswith("baseline") else ("met" if high < TARGET_MS else "**not met**")
        slow += met == "**not met**"
        print(f"| {name} | {median:.1f} | {high:.1f} | {top:.1f} | {high / base95:.1f} × | {met} |")
    print(f"\n{len(rows) - 1 - slow} of {len(rows) - 1} pages under {TARGET_MS:.0f} ms at p95")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
