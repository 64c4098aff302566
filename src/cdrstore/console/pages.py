"""The console's pages: Jinja2 templates (`templates/`), every value escaped unless marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2

from .. import __version__

_TEMPLATES: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.globals["version"] = __version__


def render(name: str, **values: Any) -> str:
    return _TEMPLATES.get_template(name).render(**values)
