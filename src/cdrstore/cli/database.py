"""Opening the local database for a command: errors said plainly, never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .common import chosen_database, fail

if TYPE_CHECKING:
    from ..store import Store


def open_db(db: str | None, *, migrate: bool = True) -> Store:
    """The store the options and environment name, ready for use (see ops.database)."""
    # Imported here: client mode (`cdrstore calls`) runs without the server's packages.
    from ..ops.database import open_database
    from ..store import StoreError, StoreFault, StoreUnavailable, open_store, redact_url

    url = chosen_database(db)
    try:
        return open_database(url) if migrate else open_store(url)
    except (StoreFault, StoreUnavailable) as exc:
        raise fail(f"cannot open database {redact_url(url)}: {exc.detail}") from None
    except StoreError as exc:
        raise fail(exc.message) from None
    except Exception as exc:  # a URL SQLAlchemy cannot parse, a missing driver, ...
        raise fail(f"cannot open database {redact_url(url)}: {type(exc).__name__}: {exc}") from None
