"""Opening the local database for a command: errors said plainly, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import DATABASE_URL_ENV, DEFAULT_DATABASE_URL
from .common import chosen_database, fail, global_options

if TYPE_CHECKING:
    from ..store import Store


def _refuse_a_missing_default(db: str | None) -> None:
    """A command that needs what a database holds, run where the default file does not exist (in
    another directory, say), stops and says so rather than create an empty one and report it empty."""
    if db or global_options["db"] or os.environ.get(DATABASE_URL_ENV):
        return
    path = Path(DEFAULT_DATABASE_URL.removeprefix("sqlite:///")).resolve()
    if not path.exists():
        raise fail(
            f"no database at {path} (the default, {DEFAULT_DATABASE_URL}, is a file in the current"
            f" directory): choose one with --db URL or {DATABASE_URL_ENV}=URL, or run"
            " `cdrstore db upgrade` to create an empty one here"
        )


def open_db(db: str | None, *, migrate: bool = True, creates: bool = True) -> Store:
    """The store the options and environment name, ready for use (see ops.database). A command
    that only uses what is there (`creates=False`) never creates the default SQLite file."""
    # Imported here: client mode (`cdrstore calls`) runs without the server's packages.
    from ..ops.database import open_database
    from ..store import StoreError, StoreFault, StoreUnavailable, open_store, redact_url

    if not creates:
        _refuse_a_missing_default(db)
    url = chosen_database(db)
    try:
        return open_database(url) if migrate else open_store(url)
    except (StoreFault, StoreUnavailable) as exc:
        raise fail(f"cannot open database {redact_url(url)}: {exc.detail}") from None
    except StoreError as exc:
        raise fail(exc.message) from None
    except Exception as exc:  # a URL SQLAlchemy cannot parse, a missing driver, ...
        raise fail(f"cannot open database {redact_url(url)}: {type(exc).__name__}: {exc}") from None
