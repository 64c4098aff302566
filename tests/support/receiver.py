"""A webhook receiver on loopback for the tests: a real HTTP server in a thread that answers the
challenge as told, keeps every event it is sent, and can be stopped and started again on its port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.challenge = "echo"  # echo, wrong, status500, slow, not-json
        self.status = 200  # the answer to an event
        self.statuses: list[int] = []  # answers to the next events, before `status` again
        self.retry_after: str | None = None
        self.slow_seconds = 0.0  # an event's answer comes this late
        self.events: list[Received] = []
        self.challenges = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender was killed mid-request: nothing arrived
                    self.close_connection = True
                    return
                document = json.loads(body or b"{}")
                if set(document) == {"challenge"}:
                    receiver.answer_challenge(self, document["challenge"])
                    return
                with receiver.lock:
                    receiver.events.append(Received(dict(self.headers), body, time.time()))
                if receiver.slow_seconds:
                    time.sleep(receiver.slow_seconds)
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                extra = {"Retry-After": receiver.retry_after} if receiver.retry_after else {}
                receiver.send(self, status, b'{"code":0}', extra)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        try:
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (a timeout, or killed by a crash test): nobody to answer

    def answer_challenge(self, handler: BaseHTTPRequestHandler, word: str) -> None:
        with self.lock:
            self.challenges += 1
        mode = self.challenge
        if mode == "slow":
            time.sleep(3)
        if mode == "status500":
            self.send(handler, 500, b"receiver exploded")
            return
        if mode == "not-json":
            self.send(handler, 200, b"<html>hello</html>")
            return
        echoed = word if mode != "wrong" else word[::-1] + "x"
        answer = {"code": 0, "result": {"challenge": echoed}}
        self.send(handler, 200, json.dumps(answer).encode())

    def verified(self, secret: str) -> list[Any]:
        """Every event received, each verified as a Standard Webhooks receiver would."""
        webhook = Webhook(secret)
        with self.lock:
            events = list(self.events)
        return [webhook.verify(e.body, e.headers) for e in events]

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.events) >= count:
                    return list(self.events)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"{len(self.events)} events arrived, {count} expected")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
