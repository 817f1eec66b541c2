"""How long `tidings serve` takes to answer its first request, against bare uvicorn.

    .venv/bin/python bench/startup.py               # 5 rounds
    .venv/bin/python bench/startup.py --repeat 11

Issue 20 asks for an emulator ready in under a second. Each round measures,
one after the other on the same machine:

  serve         `tidings serve --data-dir <empty temporary dir> --port P` until
                GET /healthz answers 200: the store created and migrated, a
                first workspace made, the app built, its writer and worker
                processes started
  bare          bench/bare.py (a bare ASGI app under the uvicorn settings
                `tidings serve` uses) until GET / answers 200: the baseline,
                the cost of the interpreter and uvicorn alone
  import        `python -c "import tidings.app"`: the server's modules
  import-base   `python -c "import sqlalchemy, uvicorn"`: the libraries it
                cannot start without, the baseline of `import`

and prints each one's median and least time over the rounds, and the median
of the per-round ratios to its baseline. The readiness probe asks every 5 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as harness  # noqa: E402  (free_port, ROOT)

PROBE_EVERY = 0.005
BASELINES = {"serve": "bare", "import": "import-base"}


def answered(port: int, path: str) -> bool:
    """True once GET `path` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def time_to_answer(cmd: list[str], port: int, path: str, timeout: float = 60.0) -> float:
    """Seconds from starting `cmd` to its first 200 on `path`; the process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=harness.ROOT
    )
    try:
        while not answered(port, path):
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"{cmd[1:4]} exited early:\n{err[-2000:]}")
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{cmd[1:4]} not ready after {timeout:.0f}s")
            time.sleep(PROBE_EVERY)
        return time.perf_counter() - start
    finally:
        harness.terminate(proc)


def serve(workdir: Path) -> float:
    data = tempfile.mkdtemp(prefix="serve-", dir=workdir)
    port = harness.free_port()
    cmd = [sys.executable, "-m", "tidings", "serve", "--data-dir", data, "--port", str(port)]
    return time_to_answer(cmd, port, "/healthz")


def bare(_workdir: Path) -> float:
    port = harness.free_port()
    cmd = [sys.executable, str(harness.HERE / "bare.py"), "--port", str(port)]
    return time_to_answer(cmd, port, "/")


def python_c(code: str) -> Callable[[Path], float]:
    def measure(_workdir: Path) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=harness.ROOT)
        return time.perf_counter() - start

    return measure


MEASURES: dict[str, Callable[[Path], float]] = {
    "bare": bare,
    "serve": serve,
    "import-base": python_c("import sqlalchemy, uvicorn"),
    "import": python_c("import tidings.app"),
}


def report(times: dict[str, list[float]]) -> None:
    print(f"{'':12} {'median':>9} {'least':>9}  ratio to baseline (median of rounds)")
    for name, values in times.items():
        base = BASELINES.get(name)
        ratio = ""
        if base:
            rounds = [v / b for v, b in zip(values, times[base], strict=True)]
            ratio = f"{statistics.median(rounds):.2f}x {base}"
        median, least = statistics.median(values), min(values)
        print(f"{name:12} {median * 1000:7.0f}ms {least * 1000:7.0f}ms  {ratio}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds (5)")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in MEASURES}
    workdir = Path(tempfile.mkdtemp(prefix="tidings-startup-"))
    try:
        for round_ in range(args.repeat):
            line = []
            for name, measure in MEASURES.items():
                times[name].append(measure(workdir))
                line.append(f"{name} {times[name][-1] * 1000:.0f}ms")
            print(f"startup: [{round_ + 1}/{args.repeat}] " + ", ".join(line), flush=True)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    report(times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
