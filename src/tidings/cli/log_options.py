"""`--log-level`, for the commands that run a server or workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def log_level_option(default: str = "info") -> Callable[[F], F]:
    return click.option(
        "--log-level",
        envvar="TIDINGS_LOG_LEVEL",
        show_envvar=True,
        type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
        default=default,
        show_default=True,
        help="Least severe messages logged; info and debug also log each request.",
    )
