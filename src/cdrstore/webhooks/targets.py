"""Where webhooks go: the receivers' URLs, which addresses may be connected to, and the one POST
that every challenge and delivery is.

A URL's host is resolved, every address it resolves to checked, and the connection made to the
address checked (the TLS name and `Host` stay the URL's): so a name that resolves to a public
address when checked and to an internal one a moment later (DNS rebinding) is never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

import anyio
import httpx

from ..errors import InvalidRequest

URL_MAX_LENGTH: Final = 2048
CONNECT_TIMEOUT: Final = 5.0  # seconds
REQUEST_TIMEOUT: Final = 10.0  # seconds for the whole request, answer included
ANSWER_MAX_BYTES: Final = 64 * 1024
SHOWN_ANSWER_BYTES: Final = 200

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services, named for the message (they are link-local or private too).
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)


class TargetRefused(InvalidRequest):
    """A receiver URL that may not be used: its form, its scheme, or where it leads."""


class SendFailed(Exception):
    """No HTTP answer: the name did not resolve, the connection failed, or time ran out."""


@dataclass(frozen=True)
class Answer:
    status: int
    head: bytes  # the first bytes of the body (at most ANSWER_MAX_BYTES read)
    retry_after: float | None  # seconds, from Retry-After

    def shown(self) -> str:
        """The answer in a message: its status and the first bytes of its body."""
        text = self.head[:SHOWN_ANSWER_BYTES].decode("utf-8", "replace")
        more = "..." if len(self.head) > SHOWN_ANSWER_BYTES else ""
        return f"HTTP {self.status}" + (f" {text!r}{more}" if text else " (empty body)")


def check_url(url: str, allow_private: bool) -> httpx.URL:
    """The URL, if it can be a receiver's: absolute, https (http too with allow_private), a host,
    no user or password in it, at most 2,048 characters."""
    if len(url) > URL_MAX_LENGTH:
        raise TargetRefused(f"url too long: at most {URL_MAX_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise TargetRefused("url is not a valid URL") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in schemes:
        raise TargetRefused(
            "url must be https://..."
            + (
                ""
                if allow_private
                else " (http is allowed only with CDRSTORE_WEBHOOKS_ALLOW_PRIVATE=1)"
            )
        )
    if not parsed.host:
        raise TargetRefused("url has no host")
    if parsed.userinfo:
        raise TargetRefused("url must not carry a user name or password")
    if parsed.fragment:
        raise TargetRefused("url must not have a #fragment")
    return parsed


def refusal(address: IPAddress) -> str | None:
    """Why a connection to this address is refused (None: it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    for reason, applies in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if applies:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if not address.is_global:
        return "non-public"
    return None


async def _addresses(host: str, port: int) -> list[str]:
    """What the host resolves to now (itself, if an address)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except OSError as exc:
        raise SendFailed(f"cannot resolve {host}: {exc.strerror or exc}") from None
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise SendFailed(f"cannot resolve {host}: no address")
    return found


async def resolve(url: httpx.URL, allow_private: bool) -> list[str]:
    """The addresses to connect to for this URL, each one checked (TargetRefused if any is not
    allowed; SendFailed if the name does not resolve)."""
    host = url.raw_host.decode("ascii")
    addresses = await _addresses(host, url.port or (443 if url.scheme == "https" else 80))
    if not allow_private:
        for text in addresses:
            reason = refusal(ipaddress.ip_address(text.partition("%")[0]))
            if reason is not None:
                shown = host if host == text else f"{host} resolves to {text}, which"
                raise TargetRefused(
                    f"url refused: {shown} is a {reason} address (receivers must be public;"
                    " CDRSTORE_WEBHOOKS_ALLOW_PRIVATE=1 allows private ones)"
                )
    return addresses


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Retry-After: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def new_client() -> httpx.AsyncClient:
    """A client for one receiver: no redirects followed, no proxy from the environment (it would
    connect where no check was made)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )


async def post(
    client: httpx.AsyncClient,
    url: httpx.URL,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float = REQUEST_TIMEOUT,
) -> Answer:
    """POST a JSON body to the receiver at the address its URL resolves to now, checked; the
    answer's status and at most 64 KB of its body. SendFailed when no answer came in time."""
    address = (await resolve(url, allow_private))[0]
    host = url.raw_host.decode("ascii")
    sent_headers = {
        **headers,
        "content-type": "application/json",
        "host": url.netloc.decode("ascii"),
        "user-agent": "cdrstore-webhooks",
        "accept-encoding": "identity",  # 64 KB read is 64 KB received, never a bomb inflated
    }
    try:
        with anyio.fail_after(timeout):
            async with client.stream(
                "POST",
                url.copy_with(host=address),
                content=body,
                headers=sent_headers,
                extensions={"sni_hostname": host},
            ) as response:
                head = bytearray()
                async for chunk in response.aiter_raw():
                    head += chunk
                    if len(head) >= ANSWER_MAX_BYTES:
                        break
                return Answer(
                    response.status_code,
                    bytes(head[:ANSWER_MAX_BYTES]),
                    retry_after_seconds(response.headers.get("retry-after"), time.time()),
                )
    except TimeoutError:
        raise SendFailed(f"no answer from {host} within {timeout:g} s") from None
    except httpx.TimeoutException:
        raise SendFailed(f"no answer from {host} within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise SendFailed(f"cannot reach {host}: {_reason(exc)}") from None


def _reason(exc: httpx.HTTPError) -> str:
    cause: BaseException = exc
    while (inner := cause.__cause__ or cause.__context__) is not None:  # the OS's own words
        cause = inner
    return str(cause) or type(cause).__name__
