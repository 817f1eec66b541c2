"""What a server process imports before its first request (issue 20: a start under a second).

Libraries needed on some paths only are imported where they are used: Liquid
with the first template rendered, Jinja2 with the first page of the web UI,
httpx with the first outbound request, cryptography with the first signature
checked, nats-py with an ingest log, sqlalchemy.orm never. Each costs tens of
milliseconds at every start of the server, its writer and its worker process.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

DEFERRED = ("liquid", "babel", "jinja2", "httpx", "cryptography", "nats", "sqlalchemy.orm")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import tidings.app",
        "import tidings.cli, tidings.server, tidings.writer_process",
        # The app as `tidings serve` builds it, without starting its lifespan.
        "from tidings.config import Settings\n"
        "from tidings.app import create_app\n"
        "create_app(Settings(database_url='sqlite://', writer_process=False, "
        "background_workers=False))",
    ],
)
def test_a_server_starts_without_the_libraries_of_some_paths(code: str) -> None:
    loaded = _loaded_after(code)
    assert not [name for name in DEFERRED if name in loaded]


def test_each_library_comes_with_its_first_use() -> None:
    loaded = _loaded_after(
        "from tidings.templates import render\n"
        "from tidings.ui.render import Templates\n"
        "from tidings import fetch\n"
        "render.syntax_error('{{ x }}')\n"
        "Templates().environment()\n"
        "fetch.parse_url('https://example.com/')"
    )
    assert {"liquid", "jinja2", "httpx"} <= loaded
