"""Options declared once and shared by several commands: a command is given the shared options in
its signature (as Typer reads it), and receives their values gathered into one object."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any

Gather = Callable[[dict[str, Any], dict[str, Any]], Any]
"""(the shared options' values, the command's own) -> the one argument that stands for them."""


def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def with_options(
    command: Callable[..., None],
    shared: Sequence[inspect.Parameter],
    into: str,
    gather: Gather,
) -> Callable[..., None]:
    """The command with the shared options after its own, called with what `gather` makes of
    their values as its parameter `into` (which Typer does not see)."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != into
    ]
    parameters = [*own, *shared]

    @functools.wraps(command)
    def with_shared(**given: Any) -> None:
        values = {p.name: given.pop(p.name) for p in shared}
        command(**given, **{into: gather(values, given)})

    with_shared.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_shared.__annotations__ = {p.name: p.annotation for p in parameters}
    del with_shared.__wrapped__  # Typer reads the signature above, not the command's own
    return with_shared
