"""The Liquid engine behind `render.py`: python-liquid with Customer.io's tags, our
filters (`liquid_filters.py`), the limits and the render deadline, and one parse
kept per short source.

Imported by `render.py` with the first template rendered or checked: liquid and
babel take longer to import than a server takes to start without them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from liquid import BoundTemplate, Environment, RenderContext, ast
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.tablerow_tag import TablerowNode, TablerowTag
from liquid.exceptions import LiquidError, LiquidSyntaxError
from liquid.output import LimitedStringIO
from liquid.tag import Tag
from liquid.token import TOKEN_TAG, Token

from tidings.errors import ApiError
from tidings.templates import liquid_filters
from tidings.templates.liquid_filters import MAX_OUTPUT_CHARS, RENDER_SECONDS, check_deadline
from tidings.templates.render import (
    MAX_LOCALS_BYTES,
    MAX_LOOP_ITERATIONS,
    MAX_SNIPPET_DEPTH,
    MAX_TEMPLATE_CHARS,
    Context,
    Problem,
)


def render_fields(
    fields: Mapping[str, str | None], context: Context, *, template_name: str
) -> dict[str, str | None]:
    """`render.render_fields`."""
    liquid_filters.clock.deadline = time.monotonic() + RENDER_SECONDS
    liquid_filters.clock.now = context.now
    try:
        scope = _Scope(context)
        return {
            name: None if source is None else _render_one(source, scope, template_name, name)
            for name, source in fields.items()
        }
    finally:
        liquid_filters.clock.deadline = float("inf")
        liquid_filters.clock.now = None


def _render_one(source: str, scope: _Scope, template_name: str, field_name: str) -> str:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise ApiError(
            400,
            f"template {template_name!r}, field {field_name!r}: "
            f"longer than {MAX_TEMPLATE_CHARS} characters",
            field=field_name,
        )
    if _plain(source):
        return source
    try:
        return _render(_parse(source), scope)
    except LiquidError as err:
        raise _error(template_name, field_name, err, source) from None
    except (RecursionError, ValueError, TypeError, ArithmeticError) as err:
        raise ApiError(
            400, f"template {template_name!r}, field {field_name!r}: {err}", field=field_name
        ) from None


def render_each(
    fields: Mapping[str, str], context: Context
) -> tuple[dict[str, str], list[Problem]]:
    """`render.render_each`."""
    liquid_filters.clock.deadline = time.monotonic() + RENDER_SECONDS
    liquid_filters.clock.now = context.now
    rendered: dict[str, str] = {}
    problems: list[Problem] = []
    try:
        scope = _Scope(context)
        for name, source in fields.items():
            if len(source) > MAX_TEMPLATE_CHARS:
                problems.append(Problem(name, f"longer than {MAX_TEMPLATE_CHARS} characters"))
            elif _plain(source):
                rendered[name] = source
            else:
                try:
                    rendered[name] = _render(_parse(source), scope)
                except LiquidError as err:
                    line, column = position(err, source)
                    problems.append(Problem(name, str(err.message), line, column))
                except (RecursionError, ValueError, TypeError, ArithmeticError) as err:
                    problems.append(Problem(name, str(err)))
    finally:
        liquid_filters.clock.deadline = float("inf")
        liquid_filters.clock.now = None
    return rendered, problems


def position(err: LiquidError, source: str) -> tuple[int | None, int | None]:
    """(line, column), 1-based, of a Liquid error in `source`; the column is None when
    Liquid lost the error's position (the line is then searched for, `_line_of`)."""
    where = err.context()
    if where:
        return where[0], where[1] + 1
    return _line_of(err, source), None


# A source without `{` has no markup and, without `\r`, nothing for Liquid's output
# stream to translate: its output is itself. Each email's `to` is such a source,
# different for every recipient, so it skips parsing and the parse cache. Longer
# ones (whose UTF-8 might pass the output limit) still go through Liquid.
_PLAIN_MAX_CHARS = MAX_OUTPUT_CHARS // 4


def _plain(source: str) -> bool:
    return "{" not in source and "\r" not in source and len(source) <= _PLAIN_MAX_CHARS


def syntax_error(source: str) -> str | None:
    """`render.syntax_error`."""
    try:
        _parse(source)
    except LiquidError as err:
        line = _line_of(err, source)
        return f"line {line}: {err.message}" if line else str(err.message)
    return None


def _error(template_name: str, field_name: str, err: LiquidError, source: str) -> ApiError:
    line = _line_of(err, source)
    where = f", line {line}" if line else ""
    return ApiError(
        400,
        f"template {template_name!r}, field {field_name!r}{where}: {err.message}",
        field=field_name,
    )


def _line_of(err: LiquidError, source: str) -> int | None:
    """The line of a Liquid error. Liquid loses the position of some syntax errors
    (an unclosed block, an output that ends after `|`): then the first line at
    which the source, cut there, fails with the same error, found by parsing cut
    sources of at most `MAX_TEMPLATE_CHARS` in all (so at most the cost of one
    largest template: a search over a 500 KB one would take some twenty
    parses); None when the search would need more."""
    where = err.context()
    if where:
        return where[0]
    if not isinstance(err, LiquidSyntaxError):
        return None
    lines = source.splitlines(keepends=True)
    budget = MAX_TEMPLATE_CHARS
    low, high = 1, len(lines)
    while low < high:
        middle = (low + high) // 2
        cut = "".join(lines[:middle])
        budget -= len(cut)
        if budget < 0:
            return None
        if _fails_with(cut, str(err.message)):
            high = middle
        else:
            low = middle + 1
    return low if lines else None


def _fails_with(source: str, message: str) -> bool:
    try:
        _ENV.from_string(source)
    except LiquidSyntaxError as err:
        return str(err.message) == message
    return False


CACHED_SOURCE_CHARS = 16_384  # longer sources are parsed each time, never kept


def _parse(source: str) -> BoundTemplate:
    """Parsed templates are immutable, so one parse serves every send of a template.

    Only short sources are cached: 1,024 sources of up to 512,000 characters
    (inline bodies vary per request) could hold a gigabyte.
    """
    if len(source) > CACHED_SOURCE_CHARS:
        return _ENV.from_string(source)
    return _parse_cached(source)


@functools.lru_cache(maxsize=1024)
def _parse_cached(source: str) -> BoundTemplate:
    return _ENV.from_string(source)


def _render(template: BoundTemplate, scope: Mapping[str, object]) -> str:
    buffer = LimitedStringIO(limit=MAX_OUTPUT_CHARS)
    template.render_with_context(RenderContext(template, globals=scope), buffer)
    return buffer.getvalue()


class _Scope(Mapping[str, object]):
    """The template's variables; collections are looked up only when named."""

    def __init__(self, context: Context) -> None:
        event = context.event or {}
        self._fixed: dict[str, object] = {
            "customer": context.customer,
            "trigger": context.trigger,
            "message_data": context.trigger,
            "event": event.get("data") or {},
            "event_name": event.get("name"),
            "event_id": event.get("id"),
            "event_timestamp": event.get("timestamp"),
            "campaign": context.campaign or {},
            "snippets": _Snippets(context.snippets, self),
            "unsubscribe_url": context.unsubscribe_url or "",
            "view_in_browser_url": context.view_in_browser_url or "",
            "manage_subscription_preferences_url": (
                context.manage_subscription_preferences_url or ""
            ),
        }
        self._collections = context.collections

    def __getitem__(self, key: str) -> object:
        if key in self._fixed:
            return self._fixed[key]
        return self._collections[key]

    def __iter__(self) -> Iterator[str]:
        yield from self._fixed
        yield from (name for name in self._collections if name not in self._fixed)

    def __len__(self) -> int:
        return len(set(self._fixed) | set(self._collections))

    def __bool__(self) -> bool:
        # Liquid tests `globals or {}` for every template; never empty, and asking
        # `len` would read the workspace's collection names for nothing.
        return True


class _Snippets(Mapping[str, str]):
    """Snippet values rendered as Liquid on first use, against the same variables."""

    def __init__(self, sources: dict[str, str], scope: _Scope) -> None:
        self._sources = sources
        self._scope = scope
        self._done: dict[str, str] = {}
        self._rendering: list[str] = []

    def __getitem__(self, name: str) -> str:
        if name in self._done:
            return self._done[name]
        source = self._sources[name]
        if name in self._rendering or len(self._rendering) >= MAX_SNIPPET_DEPTH:
            raise LiquidError(f"snippet {name!r} includes itself or nests too deep", token=None)
        self._rendering.append(name)
        try:
            self._done[name] = _render(_parse(source), self._scope)
        except LiquidError as err:
            raise LiquidError(f"in snippet {name!r}: {err.message}", token=None) from None
        finally:
            self._rendering.pop()
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


class _Checked:
    """A loop body that checks the render deadline before each iteration."""

    def __init__(self, block: Any) -> None:
        self._block = block

    def render(self, context: RenderContext, buffer: TextIO) -> int:
        check_deadline()
        return int(self._block.render(context, buffer))

    async def render_async(self, context: RenderContext, buffer: TextIO) -> int:
        check_deadline()
        return int(await self._block.render_async(context, buffer))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._block, name)


class _ForNode(ForNode):
    def __init__(self, token: Token, expression: Any, block: Any, default: Any = None) -> None:
        super().__init__(token, expression, block, default)
        self.block = _Checked(block)  # type: ignore[assignment]  # a BlockNode proxy


class _ForTag(ForTag):
    node_class = _ForNode


class _TablerowNode(TablerowNode):
    def __init__(self, token: Token, expression: Any, block: Any) -> None:
        super().__init__(token, expression, block)
        self.block = _Checked(block)  # type: ignore[assignment]  # a BlockNode proxy


class _TablerowTag(TablerowTag):
    node_class = _TablerowNode


class _UrlNode(ast.Node):
    """Outputs the variable of the same name as the tag (the URLs of the send)."""

    def __init__(self, token: Token) -> None:
        super().__init__(token)
        self.blank = False

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(str(context.resolve(self.token.value, default="")))


class _UnsubscribeUrlTag(Tag):
    name = "unsubscribe_url"
    block = False

    def parse(self, stream: Any) -> _UrlNode:
        stream.expect(TOKEN_TAG)
        return _UrlNode(stream.current)


class _ViewInBrowserUrlTag(_UnsubscribeUrlTag):
    name = "view_in_browser_url"


class _PreferencesUrlTag(_UnsubscribeUrlTag):
    name = "manage_subscription_preferences_url"


class _Environment(Environment):
    loop_iteration_limit = MAX_LOOP_ITERATIONS
    local_namespace_limit = MAX_LOCALS_BYTES
    output_stream_limit = MAX_OUTPUT_CHARS
    block_nesting_limit = 30
    context_depth_limit = 30

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        url_tags = (_UnsubscribeUrlTag, _ViewInBrowserUrlTag, _PreferencesUrlTag)
        for tag in (_ForTag, _TablerowTag, *url_tags):
            self.add_tag(tag)
        self.filters.update(liquid_filters.CUSTOM)
        self.filters = {name: liquid_filters.guarded(func) for name, func in self.filters.items()}


_ENV = _Environment()
