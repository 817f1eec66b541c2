"""A local SMTP server for bench/messaging.py: accepts everything, remembers when.

    .venv/bin/python bench/smtp_sink.py PORT

Prints `ready` once listening. On SIGTERM (or SIGINT) it prints one JSON line,
`{"arrivals": [...], "recipients": [[...], ...]}`: the `time.monotonic()` of
each message's end of DATA (CLOCK_MONOTONIC is system-wide on Linux, so the
parent can compare it with its own clock) and each message's envelope
recipients, then exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any

from aiosmtpd.controller import Controller


class Counting:
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.arrivals.append(time.monotonic())
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 accepted"


def main() -> None:
    port = int(sys.argv[1])
    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()
    print(json.dumps({"arrivals": handler.arrivals, "recipients": handler.recipients}), flush=True)


if __name__ == "__main__":
    main()
