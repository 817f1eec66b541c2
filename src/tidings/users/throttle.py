"""The login throttle: failed logins counted per email and per client address.

A login is refused with 429 (before its password is checked) once its email
has failed `MAX_PER_EMAIL` times, or its client address `MAX_PER_ADDRESS`
times, within the last `WINDOW` seconds; the answer says when to try again
(when the oldest counted failure leaves the window). The counts live in the
database, so every server process sees the same ones. Checking and recording
are separate transactions, so concurrent guesses can overshoot a limit by
the number in flight at once: a bound on guessing, not an exact count. A
successful login clears its email's count (`sessions.log_in`).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, func, insert, select

from tidings import audit
from tidings.db.schema import login_failures

WINDOW = 15 * 60
MAX_PER_EMAIL = 5
MAX_PER_ADDRESS = 20


def email_key(email: str) -> str:
    return "email:" + email.strip().lower()[:255]


def address_key(address: str) -> str:
    return "addr:" + address[:255]


def _limits(email: str, address: str) -> dict[str, int]:
    return {email_key(email): MAX_PER_EMAIL, address_key(address): MAX_PER_ADDRESS}


def retry_after(conn: Connection, email: str, address: str, now: int) -> int | None:
    """Seconds until a login for `email` from `address` may be tried, or None: now."""
    waits = []
    for key, limit in _limits(email, address).items():
        times = conn.execute(
            select(login_failures.c.at)
            .where(login_failures.c.key == key, login_failures.c.at > now - WINDOW)
            .order_by(login_failures.c.at.desc())
            .limit(limit)
        ).scalars()
        counted = list(times)
        if len(counted) >= limit:
            waits.append(counted[-1] + WINDOW - now)
    return max(waits) if waits else None


def record_failure(conn: Connection, email: str, address: str, now: int) -> None:
    """Count a failed login for its email and address (dropping their counts older
    than the window); audited, with the email tried and the address."""
    keys = list(_limits(email, address))
    conn.execute(
        delete(login_failures).where(
            login_failures.c.key.in_(keys), login_failures.c.at <= now - WINDOW
        )
    )
    conn.execute(insert(login_failures), [{"key": key, "at": now} for key in keys])
    details = {"email": email.strip().lower()[:255], "address": address[:255]}
    entry = audit.Entry("user.login_failed", "login", details["email"], None, None, details)
    audit.record(conn, entry, now)


def failures(conn: Connection, key: str, now: int) -> int:
    """Failures counted for `key` within the window."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(login_failures)
            .where(login_failures.c.key == key, login_failures.c.at > now - WINDOW)
        ).scalar_one()
    )


def clear(conn: Connection, key: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.key == key))
