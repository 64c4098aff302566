"""The web console at /console/ (docs/console.md): an entry point beside `api/`, over the same
operations, so that what it shows is what the API serves."""
