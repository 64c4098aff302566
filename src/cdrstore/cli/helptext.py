"""How `--help` names what an option takes: as a person would (`<str>`, `<int>`, nothing for a flag),
not as Python types it (`<bool>` for a flag, `<list[str]>` for a repeatable option, `<int range>`)."""

from __future__ import annotations

import re
from typing import Any

import typer.core

_LIST = re.compile(r"<list\[(.*)\]>")


def _shown_type(original: Any) -> Any:
    def display_type(self: Any, ctx: Any) -> str:
        if getattr(self, "is_flag", False):
            return ""  # a flag takes no value
        shown: str = original(self, ctx)
        shown = _LIST.sub(r"<\1>", shown)  # repeatable: the help says so
        return shown.replace(" range>", ">")  # the range is shown beside it ([x>=1])

    return display_type


def tidy_help() -> None:
    """Install the display above on Typer's parameters (once)."""
    parameter: Any = typer.core._TyperParameter
    if not getattr(parameter.display_type, "tidied", False):
        parameter.display_type = _shown_type(parameter.display_type)
        parameter.display_type.tidied = True
