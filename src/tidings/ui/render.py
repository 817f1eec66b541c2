"""Templates and static files, both shipped inside the package (no CDN, no build step).

Jinja2 escapes every value put into a page (`autoescape`), and a template
naming a variable it was not given fails loudly (`StrictUndefined`) rather
than showing an empty string. The environment is made, and jinja2 imported,
when the first page is rendered: a server answers its APIs without them.
Static files are read once at start-up into memory: only the files in
`static/` can be served, whatever the path asks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
TYPES = {
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".txt": b"text/plain; charset=utf-8",
    ".json": b"application/json",
}


class Templates:
    """The page templates, each compiled on first use (Jinja2 keeps it)."""

    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None

    def render(self, name: str, values: dict[str, Any]) -> bytes:
        return self.environment().get_template(name).render(values).encode()

    def environment(self) -> jinja2.Environment:
        if self._env is None:
            import jinja2

            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(TEMPLATES),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
        return self._env


def static_files() -> dict[str, tuple[bytes, bytes]]:
    """Every file of `static/` by name: its bytes and content type."""
    return {
        path.name: (path.read_bytes(), TYPES.get(path.suffix, b"application/octet-stream"))
        for path in sorted(STATIC.iterdir())
        if path.is_file()
    }
