"""`cdrstore serve`: the API in uvicorn worker processes, configured through the environment."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..settings import DATABASE_URL_ENV, MULTIPROC_DIR_ENV, Settings
from .common import DbOption, chosen_database, err, fail, plural
from .database import open_db
from .signatures import option, with_options


def _setting_options() -> list[inspect.Parameter]:
    """A `serve` option for every setting that has one (the database has `--db`)."""
    options = []
    for setting in dataclasses.fields(Settings):
        if setting.name == "database_url":
            continue
        declared = typer.Option(
            setting.metadata["option"], help=setting.metadata["help"], show_default=False
        )
        annotation: Any
        if setting.type in (bool, "bool"):
            annotation = Annotated[bool | None, declared]
        elif setting.type in (tuple[str, ...], "tuple[str, ...]"):  # repeatable: one value a use
            annotation = Annotated[list[str] | None, declared]
        else:
            annotation = Annotated[str | None, declared]
        options.append(option(setting.name, annotation, None))
    return options


def _environment(values: dict[str, Any], _own: dict[str, Any]) -> dict[str, str]:
    """The options given, as the variables every worker reads (`on`/`off` for a flag, a repeated
    option's values comma-joined)."""
    variables = {}
    for setting in dataclasses.fields(Settings):
        value = values.get(setting.name)
        if isinstance(value, bool):
            variables[setting.metadata["env"]] = "on" if value else "off"
        elif isinstance(value, list):
            if value:  # not given: the variable already set, if any, stands
                variables[setting.metadata["env"]] = ",".join(value)
        elif value is not None:
            variables[setting.metadata["env"]] = value
    return variables


def _serve(
    given: dict[str, str],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Check the settings and that the port is free, then exit (make run)."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Serve the API (and /docs, /openapi.json, /healthz, /readyz; the console at /console/
    unless --no-console; /metrics with --metrics)."""
    import uvicorn

    from ..store import redact_url

    url = chosen_database(db)
    # Every worker reads its settings from the environment: the options go there, and are
    # checked once, here, as the workers will read them.
    os.environ.update(given)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise fail(str(exc)) from None
    _check_port_free(host, port)
    if check:
        err.print(f"settings checked; http://{host}:{port} is free to serve on")
        return
    if settings.metrics:
        _share_metrics_between_workers()
    else:  # values stay in each process's memory: nothing on disk to go wrong
        os.environ.pop(MULTIPROC_DIR_ENV, None)
    open_db(url).close()  # migrates once here, before any worker starts
    os.environ[DATABASE_URL_ENV] = url  # every worker builds its app from the environment
    err.print(
        f"cdrstore {__version__} serving {redact_url(url)} on http://{host}:{port} "
        f"({workers} {plural(workers, 'worker')}); API docs at http://{host}:{port}/docs"
        + (f", console at http://{host}:{port}/console/" if settings.console else "")
        + (f", metrics at http://{host}:{port}/metrics" if settings.metrics else "")
    )
    from ..api.protocol import HeaderDeadlineProtocol  # reads its timeout from the environment
    from .workers import reuse_port_available, run_workers

    options: dict[str, Any] = {
        "http": HeaderDeadlineProtocol,
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": log_level,
        "proxy_headers": False,
        "access_log": False,  # cdrstore.access writes one JSON line a request instead
        "ws": "none",  # no WebSocket here: an upgrade request is answered as plain HTTP
        "log_config": _log_config(),
    }
    delivery = _start_delivery() if settings.webhook_delivery else None
    try:
        if workers > 1 and reuse_port_available():
            run_workers(uvicorn.Config("cdrstore.api.app:create_app", **options))
        else:
            uvicorn.run("cdrstore.api.app:create_app", **options)
    finally:
        if delivery is not None:
            delivery.terminate()
            try:
                delivery.wait(timeout=15)
            except subprocess.TimeoutExpired:
                delivery.kill()


def _start_delivery() -> subprocess.Popen[bytes]:
    """The webhook delivery loop (`cdrstore webhooks run`) in a process of its own, apart from the
    workers that answer requests, with the settings they read, at a lower priority; it stops with
    this process, killed or not (Linux: the kernel's parent-death signal). While no subscription is enabled it only
    looks for one every few seconds; where several servers share a database, one delivers (a lease)."""
    return subprocess.Popen(
        [sys.executable, "-m", "cdrstore", "webhooks", "run", "--quiet"],
        stdout=subprocess.DEVNULL,
        preexec_fn=_in_the_background,  # safe: serve has started no thread yet
    )


DELIVERY_NICENESS = 10


def _in_the_background() -> None:
    """The delivery process yields the CPU to the workers when both want it (deliveries are
    background work; an ingest is waited for), and on Linux is told to stop when `serve` dies."""
    os.nice(DELIVERY_NICENESS)
    if sys.platform == "linux":
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _check_port_free(host: str, port: int) -> None:
    """Refuse, before anything says it serves, a port another process listens on."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (serve --host)"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise fail(
                    f"port {port} on {host} is already in use (another cdrstore serve?): stop"
                    f" that process, or choose another port with --port N (with make run:"
                    f" PORT=9000 make run)"
                ) from None
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _share_metrics_between_workers() -> None:
    """Give the worker processes a fresh directory to keep metric values in, so that /metrics
    adds up all of them (prometheus_client's multiprocess mode), removed when the server stops."""
    import atexit
    import shutil
    import tempfile

    chosen = os.environ.get(MULTIPROC_DIR_ENV)
    if not chosen:
        directory = tempfile.mkdtemp(prefix="cdrstore-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROC_DIR_ENV] = directory
        return
    # The operator's directory: it must exist, and last run's values go (prometheus_client
    # would otherwise add them to this run's).
    path = Path(chosen)
    if not path.is_dir() or not os.access(path, os.W_OK):
        raise fail(f"{MULTIPROC_DIR_ENV}={chosen} is not a writable directory")
    for stale in path.glob("*.db"):
        stale.unlink()


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus cdrstore's own loggers (access lines, errors) on stderr, one message
    a line; uvicorn applies it in every worker process."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["cdrstore"] = {"format": "%(message)s"}
    config["handlers"]["cdrstore"] = {
        "class": "logging.StreamHandler",
        "formatter": "cdrstore",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["cdrstore"] = {"handlers": ["cdrstore"], "level": "INFO", "propagate": False}
    return config


serve = with_options(_serve, _setting_options(), "given", _environment)
