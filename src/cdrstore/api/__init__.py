"""The HTTP API: app factory (`app.py`), one module per resource, auth, errors."""

from .app import create_app

__all__ = ["create_app"]
