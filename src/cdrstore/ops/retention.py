"""Retention: remove records whose callDate is older than a cutoff, of one app or of all."""

from __future__ import annotations

from ..store import RetentionReport, Store
from .accounts import require_app


def apply_retention(
    store: Store, cutoff_ms: int, app_id: str | None = None, dry_run: bool = False
) -> RetentionReport:
    """On PostgreSQL, for all apps, whole monthly partitions before the cutoff are dropped; the
    rest goes row by row. A dry run says what would go and removes nothing."""
    if app_id is not None:
        require_app(store, app_id)
        app_ids = [app_id]
    else:
        app_ids = [app.app_id for app in store.accounts.list_apps()]
    return store.records.apply_retention(
        cutoff_ms, app_ids, every_app=app_id is None, dry_run=dry_run
    )
