"""Do sends with slow templates stall other workspaces' writes? (issue 14)

Starts `tidings serve` on a fresh SQLite folder with two workspaces, sends 16
emails at once from the first (each to a person not yet made, with a template
that hashes a 200,000-character value `--iterations` times), and meanwhile
writes people into the second workspace one at a time, timing each write.

    .venv/bin/python bench/send_render_stall.py                    # reaches the 2 s deadline
    .venv/bin/python bench/send_render_stall.py --iterations 400   # renders in time
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx

CLI = [sys.executable, "-m", "tidings"]


def workspace(data_dir: str, name: str) -> dict[str, Any]:
    made = subprocess.run(
        [*CLI, "workspace", "create", "--data-dir", data_dir, "--name", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(made.stdout))


def send_body(iterations: int, person: str) -> dict[str, Any]:
    loop = f"{{% for i in (1..{iterations}) %}}{{% assign h = trigger.k | sha256 %}}{{% endfor %}}"
    return {
        "to": "p@x.test",
        "from": "b@x.test",
        "subject": "s",
        "body": loop + "x",
        "message_data": {"k": "k" * 200_000},
        "identifiers": {"id": person},
    }


async def measure(
    base: str, sender: dict[str, Any], writer: dict[str, Any], iterations: int
) -> None:
    app = {"Authorization": f"Bearer {sender['app_api_key']}"}
    track = (writer["site_id"], writer["track_api_key"])
    async with httpx.AsyncClient(timeout=300) as client:
        await client.post(f"{base}/v1/send/email", headers=app, json=send_body(1, "first"))
        latencies: list[float] = []
        done = asyncio.Event()

        async def writes() -> None:
            n = 0
            while not done.is_set():
                started = time.perf_counter()
                answer = await client.put(
                    f"{base}/api/v1/customers/c{n}", auth=track, json={"n": n}
                )
                answer.raise_for_status()
                latencies.append(time.perf_counter() - started)
                n += 1

        timing = asyncio.create_task(writes())
        started = time.perf_counter()
        sends = [
            client.post(f"{base}/v1/send/email", headers=app, json=send_body(iterations, f"p{i}"))
            for i in range(16)
        ]
        answers = await asyncio.gather(*sends)
        elapsed = time.perf_counter() - started
        done.set()
        await timing
    statuses = sorted({a.status_code for a in answers})
    latencies.sort()
    print(f"16 sends answered {statuses} in {elapsed:.1f} s")
    print(
        f"other workspace's writes meanwhile: {len(latencies)},"
        f" p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="tidings-stall-")
    sender, writer = workspace(data_dir, "sender"), workspace(data_dir, "writer")
    serve = [*CLI, "serve", "--data-dir", data_dir, "--port", str(args.port)]
    server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_until_up(base)
        asyncio.run(measure(base, sender, writer, args.iterations))
    finally:
        server.terminate()
        server.wait()


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


if __name__ == "__main__":
    main()
