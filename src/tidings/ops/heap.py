"""A long-running process's heap: the garbage collector kept off what startup made,
and glibc's malloc arenas bounded.

A Tidings process allocates most of what it will ever hold while starting:
modules, SQLAlchemy's metadata and compiled statements, the app. Every full
collection walked all of it again, and under load full collections are
frequent: queued jobs live just long enough to be promoted to the oldest
generation. In the writer process that was 8% of its CPU under batch load.
`gc.freeze()` moves what exists now into a generation the collector never
scans; objects that die later are still freed by reference counting, and
cycles among them still collected.
"""

from __future__ import annotations

import ctypes
import gc
import os

MALLOC_ARENAS = 2  # glibc's default is 8 per core
_M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from later collections.

    For the entry points of long-running processes only (the server, the
    writer and worker processes), once their startup is done: a frozen
    object that later becomes garbage in a cycle is never reclaimed.
    """
    gc.collect()
    gc.freeze()


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """At most `arenas` glibc malloc arenas in this process, for the threads started
    after this call; nothing where the C library is not glibc, or where the
    environment sets MALLOC_ARENA_MAX (glibc reads it itself).

    glibc gives each thread that finds the arenas busy an arena of its own, up to
    eight per core, and memory freed in one is not reused for another's
    allocations. The SQLite connections of the reading threads (a worker process
    has a dozen) allocate their page caches and statements outside the GIL, so
    they do contend: during a broadcast to 100,000 people the worker process grew
    by half as much again with the default as with two arenas
    (docs/benchmarks.md, broadcast memory).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, arenas)
