"""The delivery worker: claims due deliveries and sends them through their provider.

A thread running an asyncio loop (uvloop's). It keeps up to `concurrency`
deliveries in flight (128), claiming more (with a lease, `delivery_queue`)
as they finish; an adapter bounds its own connections (SMTP's
`max_connections`), so most of those wait there with their message built,
and a connection never waits for a claim, a suppression check or an outcome's
commit. (With 32 in flight the pipeline ran dry between claims: 850 emails/s
against 1,050 in bench/messaging.py.) A provider that takes longer than half
the lease to work through its queue sees the last ones time out, and retried
later, as for any slow send.

For each delivery, right before the provider call, it checks suppression
(`sending.suppression`); then it sends the stored payload and records
exactly one outcome:

- `Sent`: state sent, with `sent_at` and the provider's message id;
- `Permanent`: state failed, with the reason;
- `Transient` (or an exception, or a send slower than `send_timeout`):
  `attempted`, queued again after the `RETRY` policy's delay, until
  `expires_at`, then failed.

Leases are short (`LEASE`, 15 s) and renewed while the worker holds them: a
heartbeat extends the lease of every delivery claimed and not yet recorded
each third of a lease (`delivery_queue.renew`). A worker killed mid-send stops
renewing, its leases run out within one lease, and the next claim sends
those deliveries again, with the payload (and so the email's Message-ID)
fixed when the send was accepted. Deliveries it had not started are simply
claimed by someone else, and ones it finished are not touched again. A send
is given `send_timeout` (60 s) however often its lease is renewed.

Deliveries stored without a payload are composed right before their send:
a campaign's messages are rendered at send time (`campaigns.messages`). The
worker knows them only as a `Composer` for their `source`, given by the
composition root; a claimed batch is composed in one read transaction,
beside its suppression check. A delivery that cannot be composed fails with
the reason (a template error), or is retried when the reason may pass.

Blocking database calls run on a small thread pool; on SQLite the server
passes its group-commit writer (`Writer.call`) as `write`, so there is one
writing connection per process.

Batching, which is where the throughput comes from: the deliveries of one
claim are checked for suppression together, in one read transaction, just
before their sends start (`suppression.reasons_to_skip`); outcomes are
recorded many per transaction (`_Outcomes`): while one recording transaction
is on its way, the outcomes that arrive meanwhile queue up and go together
in the next. Each is still fenced by its own claim (`delivery_queue.record_many`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace as dataclass_replace
from typing import Any, Protocol

import msgspec
import uvloop
from sqlalchemy import Connection

from tidings.clock import Clock
from tidings.db.engine import Database
from tidings.fetch import Allowlist
from tidings.jobs.lease import RetryPolicy
from tidings.ops.loop import BackgroundThread
from tidings.providers import base as outbound
from tidings.providers.adapters import Adapters, Factory, Key, Provider, Services, providers_for
from tidings.providers.base import Email, Outbound, Outcome, Permanent, Push, Sent, Transient
from tidings.sending import compose, delivery_queue, rates, suppression
from tidings.sending.delivery_queue import Claimed

log = logging.getLogger("tidings.deliveries")
LEASE = 15  # seconds a claim holds without renewal: how long a dead worker's sends wait
SEND_TIMEOUT = 60.0
RETRY = RetryPolicy(base=10.0, cap=3600.0)  # after a transient failure; until `expires_at`


class Composed(Protocol):
    """What a composer makes of one delivery: its payload (and options and recipient),
    or the failure why not, to retry or not."""

    @property
    def payload(self) -> str | None: ...
    @property
    def options(self) -> dict[str, Any] | None: ...
    @property
    def recipient(self) -> str | None: ...
    @property
    def failure(self) -> str | None: ...
    @property
    def retry(self) -> bool: ...


class Composer(Protocol):
    """Composes a batch of claimed deliveries of one `source`, in a read transaction."""

    def __call__(self, conn: Connection, claimed: Sequence[Claimed]) -> Sequence[Composed]: ...


class DeliveryWorker(BackgroundThread):
    thread_name = "tidings-deliveries"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        write: Callable[..., Any] | None = None,
        factories: dict[str, Factory] | None = None,
        concurrency: int = 128,
        lease: int = LEASE,
        send_timeout: float = SEND_TIMEOUT,
        renew_every: float | None = None,
        poll_interval: float = 0.2,
        retry: RetryPolicy = RETRY,
        composers: Mapping[str, Composer] | None = None,
        allow: Allowlist | None = None,
    ) -> None:
        super().__init__(poll_interval)
        self.db = db
        self.clock = clock
        self._write_fn = write or self.db.write
        self._factories = factories
        self._concurrency = concurrency
        self._lease = lease
        self._send_timeout = send_timeout
        self._renew_every = renew_every if renew_every is not None else lease / 3
        self._held: dict[str, Claimed] = {}  # claimed, outcome not yet recorded
        self._retry = retry
        self._composers = dict(composers or {})
        self._allow = allow or Allowlist()  # private addresses webhooks may reach
        self._pacer = rates.Pacer(clock)
        # Outcomes recorded by this worker, by kind (`sent`, `failed`, `suppressed`,
        # `transient`: queued again or failed when expired): `tidings worker`'s /metrics.
        self.recorded: Counter[str] = Counter()

    @property
    def in_flight(self) -> int:
        """Deliveries claimed whose outcome is not recorded yet."""
        return len(self._held)

    # --- lifecycle (start, request_stop, stop: BackgroundThread) -------------------
    # After request_stop it stops claiming; sends in flight finish and are recorded.

    def run(self) -> None:
        uvloop.run(self._main())

    def run_once(self) -> int:
        """Claim and send what is due now, in a fresh event loop; how many were claimed.

        For tests and tools: the same path as the loop, one pass, waiting for
        every send it started.
        """

        async def once() -> int:
            adapters = self._adapters()
            heartbeat = asyncio.create_task(self._heartbeat())
            try:
                claimed = await self._claim(self._concurrency)
                await self._start(adapters, claimed, _Outcomes(self._write, self.recorded), set())
                return len(claimed)
            finally:
                heartbeat.cancel()
                await adapters.close()

        return uvloop.run(once())

    async def _main(self) -> None:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=8, thread_name_prefix="tidings-deliveries-db")
        )
        adapters = self._adapters()
        outcomes = _Outcomes(self._write, self.recorded)
        inflight: set[asyncio.Task[None]] = set()
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            while not self._stop.is_set():
                room = self._concurrency - len(inflight)
                claimed = await self._claim_safely(room) if room > self._concurrency // 2 else []
                if claimed:
                    await self._start(adapters, claimed, outcomes, inflight, wait=False)
                if inflight:
                    _, inflight = await asyncio.wait(
                        inflight, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED
                    )
                elif not claimed:
                    await asyncio.to_thread(self._stop.wait, self._poll)
            if inflight:
                await asyncio.wait(inflight)
        finally:
            heartbeat.cancel()
            await adapters.close()

    def _adapters(self) -> Adapters:
        services = Services(write=self._write_fn, clock=self.clock, allow=self._allow)
        return Adapters(self.db.read, services, factories=self._factories)

    async def _heartbeat(self) -> None:
        """Renew the leases of the deliveries held, every `renew_every` seconds."""
        while True:
            await asyncio.sleep(self._renew_every)
            held = list(self._held.values())
            if not held:
                continue
            try:
                await self._write(delivery_queue.renew, held, self._now(), self._lease)
            except Exception:
                # Not renewed: the claims may be taken over, and their outcomes
                # are then fenced off (`queue`): a send twice at worst, never lost.
                log.exception("renewing the leases of %d deliveries failed", len(held))

    # --- one delivery ------------------------------------------------------------

    async def _claim_safely(self, limit: int) -> list[Claimed]:
        try:
            return await self._claim(limit)
        except Exception:
            log.exception("claiming deliveries failed")
            return []

    async def _claim(self, limit: int) -> list[Claimed]:
        if not await self._read_async(delivery_queue.due, self._now()):
            return []  # nothing due: no write transaction for an idle poll
        now = self.clock.now()
        return await self._write(delivery_queue.claim, int(now), self._lease, limit, now)  # type: ignore[no-any-return]

    async def _start(
        self,
        adapters: Adapters,
        claimed: list[Claimed],
        outcomes: _Outcomes,
        inflight: set[asyncio.Task[None]],
        *,
        wait: bool = True,
    ) -> None:
        """Check the claimed deliveries' suppression and read their providers together,
        then start their sends."""
        try:
            checks = [
                (
                    c.workspace_id,
                    c.person_id,
                    c.recipient,
                    bool(c.option("send_to_unsubscribed", True)),
                    _topic(c.option("subscription_topic_id", None)),
                )
                for c in claimed
            ]
            keys = {(c.workspace_id, c.channel) for c in claimed}
            reasons, found = await self._read_async(_before_sends, checks, keys)
            adapters.remember(found)
            claimed, reasons = await self._composed(claimed, reasons, outcomes)
        except Exception:
            # The leases run out and the deliveries are claimed again: nothing is lost.
            log.exception("reading suppression or providers of %d deliveries failed", len(claimed))
            return
        self._held.update((item.id, item) for item in claimed)
        tasks = [
            asyncio.create_task(self._deliver(adapters, outcomes, item, reason))
            for item, reason in zip(claimed, reasons, strict=True)
        ]
        inflight.update(tasks)
        if wait:
            await asyncio.gather(*tasks)

    async def _composed(
        self, claimed: list[Claimed], reasons: list[str | None], outcomes: _Outcomes
    ) -> tuple[list[Claimed], list[str | None]]:
        """The batch with the payloads of those stored without one composed (those not
        to be sent, suppressed or unsendable, are left as they are); a delivery that
        cannot be composed has its failure recorded here and leaves the batch."""
        todo = [
            i
            for i, (item, reason) in enumerate(zip(claimed, reasons, strict=True))
            if item.payload is None and reason is None and item.source in self._composers
        ]
        if not todo:
            return claimed, reasons
        by_source: dict[str, list[int]] = {}
        for i in todo:
            by_source.setdefault(claimed[i].source, []).append(i)
        dropped: set[int] = set()
        for source, indexes in by_source.items():
            batch = [claimed[i] for i in indexes]
            results = await self._read_async(self._composers[source], batch)
            for i, result in zip(indexes, results, strict=True):
                if result.payload is None:
                    dropped.add(i)
                    self._held[claimed[i].id] = claimed[i]
                    await self._not_composed(outcomes, claimed[i], result)
                    continue
                claimed[i] = dataclass_replace(
                    claimed[i],
                    payload=result.payload,
                    options=result.options or claimed[i].options,
                    recipient=result.recipient or claimed[i].recipient,
                    composed=True,
                )
        kept = [i for i in range(len(claimed)) if i not in dropped]
        return [claimed[i] for i in kept], [reasons[i] for i in kept]

    async def _not_composed(self, outcomes: _Outcomes, claimed: Claimed, result: Any) -> None:
        try:
            now = self._now()
            if result.retry:
                await outcomes.record(
                    delivery_queue.transient, claimed, now, result.failure, self._retry
                )
            else:
                log.warning("delivery %s cannot be composed: %s", claimed.id, result.failure)
                await outcomes.record(delivery_queue.failed, claimed, now, result.failure)
        finally:
            self._held.pop(claimed.id, None)

    async def _deliver(
        self, adapters: Adapters, outcomes: _Outcomes, claimed: Claimed, skip: str | None
    ) -> None:
        try:
            await self._deliver_one(adapters, outcomes, claimed, skip)
        except Exception:
            # Recording failed (database gone?): the lease runs out and the
            # delivery is claimed again, so nothing is lost.
            log.exception("delivery %s: recording its outcome failed", claimed.id)
        finally:
            self._held.pop(claimed.id, None)

    async def _deliver_one(
        self, adapters: Adapters, outcomes: _Outcomes, claimed: Claimed, skip: str | None
    ) -> None:
        if skip is not None:
            await outcomes.record(delivery_queue.suppressed, claimed, self._now(), skip)
            return
        outcome = await self._send(adapters, claimed)
        now = self._now()
        if isinstance(outcome, Sent):
            await outcomes.record(delivery_queue.sent, claimed, now, outcome.provider_message_id)
        elif isinstance(outcome, Permanent):
            log.warning("delivery %s failed: %s", claimed.id, outcome.reason)
            await outcomes.record(delivery_queue.failed, claimed, now, outcome.reason)
        else:
            state = await outcomes.record(
                delivery_queue.transient, claimed, now, outcome.reason, self._retry
            )
            log.warning("delivery %s: %s (now %s)", claimed.id, outcome.reason, state or "lost")

    async def _send(self, adapters: Adapters, claimed: Claimed) -> Outcome:
        if claimed.payload is None:
            return Permanent("nothing to send: the message was not kept")
        try:
            message = outbound.decode(claimed.payload)
        except msgspec.ValidationError as exc:
            return Permanent(f"unreadable payload: {exc}")
        targets = _targets(claimed, message)
        if not targets:
            return Permanent("the person has no device to send to")
        try:
            async with adapters.using(claimed.workspace_id, claimed.channel) as adapter:
                if claimed.slot is not None:  # a send rate's slot: paced right before the call
                    await self._pacer.wait(claimed.slot)
                outcomes = [await self._call(adapter, claimed.id, target) for target in targets]
        except Exception as exc:  # building the adapter (its sends' errors are outcomes)
            return Transient(f"provider unavailable: {type(exc).__name__}: {exc}")
        if isinstance(targets[0], Email):
            return outcomes[0]  # a fake_bcc copy's outcome does not decide the delivery's
        return _combine(outcomes)

    async def _call(self, adapter: Any, delivery_id: str, message: Outbound) -> Outcome:
        # A timeout scope, not wait_for: the send starts in this task at once, not in a
        # task of its own a turn of the loop later (a paced send starts on its slot).
        try:
            async with asyncio.timeout(self._send_timeout):
                outcome: Outcome = await adapter.send(delivery_id, message)
                return outcome
        except TimeoutError:
            return Transient("the provider did not answer in time")
        except Exception as exc:
            return Transient(f"{type(exc).__name__}: {exc}")

    # --- plumbing ----------------------------------------------------------------

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(self._write_fn, fn, *args)

    async def _read_async(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(self.db.read, fn, *args)

    def _now(self) -> int:
        return int(self.clock.now())


def _before_sends(
    conn: Connection, checks: list[suppression.Check], keys: set[Key]
) -> tuple[list[str | None], dict[Key, Provider]]:
    """What a claimed batch reads before its sends, in one read transaction: why each
    delivery is skipped (None to send it), and the providers as of now, so that a
    change reaches the next batch at once."""
    return suppression.reasons_to_skip(conn, checks), providers_for(conn, keys)


class _Outcomes:
    """Outcomes recorded many per transaction: those that arrive while one recording
    transaction is on its way go together in the next (group commit, worker side).

    `record` returns once the outcome is committed, with what its function
    returned (False or '' when the claim no longer held).
    """

    def __init__(self, write: Callable[..., Any], recorded: Counter[str]) -> None:
        self._write = write  # async: runs fn(conn, *args) in a committed transaction
        self._recorded = recorded  # counts each outcome committed, by its function's name
        self._pending: list[tuple[delivery_queue.Recording, asyncio.Future[Any]]] = []
        self._flushing = False

    async def record(self, fn: Callable[..., Any], claimed: Claimed, *args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(((fn, claimed, args), future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        result = await future
        if result is False:
            log.warning("delivery %s: lease lost, outcome left to its new claim", claimed.id)
        if result:  # False or '': the claim no longer held, nothing was recorded
            self._recorded[fn.__name__] += 1
        return result

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await self._write(
                        delivery_queue.record_many, [item for item, _ in batch]
                    )
                except Exception:
                    await self._one_by_one(batch)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
        finally:
            self._flushing = False

    async def _one_by_one(
        self, batch: list[tuple[delivery_queue.Recording, asyncio.Future[Any]]]
    ) -> None:
        """A failed batch is recorded again one outcome per transaction, so one bad
        outcome does not cost the others theirs."""
        for item, future in batch:
            try:
                future.set_result((await self._write(delivery_queue.record_many, [item]))[0])
            except Exception as exc:
                future.set_exception(exc)


def _targets(claimed: Claimed, message: Outbound) -> list[Outbound]:
    """The messages one delivery makes: a push to `all` goes to each of the person's
    devices; an email with `fake_bcc` is the message without Bcc, then the copy."""
    if isinstance(message, Email) and claimed.option("fake_bcc") and message.bcc:
        without = msgspec.structs.replace(message, bcc=[])
        return [without, compose.fake_bcc_copy(message)]
    if not isinstance(message, Push):
        return [message]
    if claimed.option("devices") is None:
        return [message] if message.token else []
    full = claimed.option("custom_payload")
    return [
        compose.for_device(message, token, platform, full)
        for token, platform in claimed.option("devices")
    ]


def _combine(outcomes: list[Outcome]) -> Outcome:
    """A delivery to several devices is sent if any device took it."""
    taken = [o for o in outcomes if isinstance(o, Sent)]
    if taken:
        ids = [o.provider_message_id for o in taken if o.provider_message_id]
        return Sent(",".join(ids)[:255] or None)
    retry = [o for o in outcomes if isinstance(o, Transient)]
    if retry:
        return retry[0]
    return outcomes[0]


def _topic(value: Any) -> int | None:
    """A delivery's subscription topic, from its options."""
    return value if type(value) is int else None
