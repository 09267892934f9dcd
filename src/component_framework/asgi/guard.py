"""Who the client is and what it may still do: shared by every transport of one app.

Owns the host check (``Settings.allowed_hosts``: a ``Host`` this app does not answer for is
refused, the DNS-rebinding defence), the client's address (the ASGI ``client``, or behind a
trusted proxy the right-most ``X-Forwarded-For`` hop that is not itself a trusted proxy), the
cross-site check of browser requests (``Origin``, else ``Sec-Fetch-Site``, against the
request's own host and ``Settings.allowed_origins``), the per-client request rate (token
buckets), and the count of open streams and sockets per client. Each refusal is an error from
``errors`` (400 / 403 / 429), so transports answer it like any other; no user code runs before
these checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from component_framework.asgi.incoming import BodyDeadlines
from component_framework.core.config import Settings
from component_framework.core.ratelimit import TokenBuckets
from component_framework.errors import Forbidden, HostNotAllowed, RateLimited, shown

if TYPE_CHECKING:
    from component_framework.asgi.incoming import RequestHeaders

__all__ = ["ClientGuard", "Slot", "host_allowed", "origin_allowed"]

Slot = Literal["stream", "socket", "page_stream"]
#: Buckets kept at most; the oldest are dropped first (a dropped bucket starts full again).
MAX_TRACKED_CLIENTS: Final = 10_000
_SAME_SITE_FETCHES: Final = frozenset({"same-origin", "none"})
_UNKNOWN: Final = "unknown"
#: ``Host`` spellings whose verdict is remembered (forgotten all at once beyond this).
_MAX_HOST_VERDICTS: Final = 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def origin_allowed(origin: str | None, host: str | None, settings: Settings) -> bool:
    """Whether a browser request from ``origin`` may act here: no ``Origin`` (not a browser, or
    a same-origin ``GET``) passes; otherwise it must be the request's own ``host`` or one of
    ``settings.allowed_origins`` (``"*"`` allows any)."""
    if origin is None:
        return True
    allowed = settings.allowed_origins
    normalised = origin.strip().rstrip("/").lower()
    if "*" in allowed or normalised in allowed:
        return True
    if host is None or normalised == "null":
        return False
    return urlsplit(normalised).netloc == host.strip().lower()


def _split_port(host: str) -> tuple[str, str | None]:
    """``example.com:8000`` -> (``example.com``, ``8000``); ``[::1]:80`` -> (``[::1]``, ``80``)."""
    if host.startswith("["):
        name, bracket, rest = host.partition("]")
        port = rest[1:] if rest.startswith(":") else None
        return name + bracket, port
    name, colon, port = host.rpartition(":")
    return (name, port) if colon and name else (host, None)


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """Whether a ``Host`` header matches one of ``patterns`` (normalised by ``Settings``): a
    pattern without a port matches any port, ``*.example.com`` any subdomain, ``*`` any."""
    host = host.strip().lower()
    name, port = _split_port(host)
    name = name.removesuffix(".")  # "example.com." is example.com
    for pattern in patterns:
        if pattern == "*":
            return True
        wanted, wanted_port = _split_port(pattern)
        if wanted_port is not None and wanted_port != port:
            continue
        if wanted.startswith("*."):
            if name.endswith(wanted[1:]):
                return True
        elif name == wanted:
            return True
    return False


class ClientGuard:
    """The client policy of one app (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proxies: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in settings.trusted_proxies
        )
        self._buckets = TokenBuckets(MAX_TRACKED_CLIENTS)
        #: Body reads in progress, ended with 408 after ``settings.body_timeout``.
        self.body_deadlines = BodyDeadlines(settings.body_timeout)
        self._open: dict[Slot, dict[str, int]] = {"stream": {}, "socket": {}, "page_stream": {}}
        hosts = settings.allowed_hosts
        self._hosts: tuple[str, ...] | None = tuple(hosts) if hosts else None
        self._host_verdicts: dict[str, bool] = {}
        # What admit() reads on every request, read once (Settings is frozen).
        self._rate = settings.http_rate
        self._burst = settings.http_burst
        self._cross_site = settings.check_origin

    # -- one request -----------------------------------------------------------------------

    def admit(
        self, scope: Mapping[str, Any], headers: RequestHeaders, now: float, action: str | None
    ) -> str:
        """Every per-request check of a request/response exchange in one call; returns the
        client's address. In order: the host (:meth:`check_host`, 400), the client's address
        (:meth:`client_address`), its request rate (:meth:`take_request`, 429, counted at
        ``now``) and, when ``action`` names a state change (``None``: a safe method), the
        cross-site check (:meth:`check_origin`, 403). Each step costs nothing when its
        setting is off; none is weaker than the method it stands for."""
        if self._hosts is not None:
            self.check_host(headers.host)
        if self._proxies:
            client = self.client_address(scope)
        else:  # the common case: the server's peer address, as is
            peer = scope.get("client")
            client = _UNKNOWN if not peer else peer[0]
            if type(client) is not str:
                client = str(client)
        rate = self._rate
        if rate is not None:
            wait = self._buckets.take(client, rate, self._burst, now)
            if wait:
                raise RateLimited("too many requests from this client: slow down", wait)
        if action is not None and self._cross_site:
            origin, fetch_site = headers.origin, headers.fetch_site
            if origin is not None or fetch_site is not None:  # else nothing says cross-site
                self.check_origin(origin, fetch_site, headers.host, action)
        return client

    # -- hosts -------------------------------------------------------------------------------

    def check_host(self, host: str | None) -> None:
        """Refuse (400 ``host_not_allowed``) a request whose ``Host`` this app does not answer
        for, when ``Settings.allowed_hosts`` is set; without it every host passes."""
        patterns = self._hosts
        if patterns is None:
            return
        if host is None:
            raise HostNotAllowed("the request has no Host header (allowed_hosts is set)")
        verdicts = self._host_verdicts
        allowed = verdicts.get(host)
        if allowed is None:  # a new spelling: match it once (a few hosts serve all requests)
            if len(verdicts) >= _MAX_HOST_VERDICTS:
                verdicts.clear()
            allowed = verdicts[host] = host_allowed(host, patterns)
        if not allowed:
            raise HostNotAllowed(f"host {shown(host)} is not one of this server's allowed_hosts")

    # -- identity --------------------------------------------------------------------------

    def client_address(self, scope: Mapping[str, Any]) -> str:
        """The client's address; ``"unknown"`` when the server gave none."""
        peer = scope.get("client")
        if not self._proxies:  # the common case, on every request: no parsing at all
            return str(peer[0]) if peer else _UNKNOWN
        address = str(peer[0]) if peer else _UNKNOWN
        if not self._trusted(address):
            return address
        forwarded = _header(scope.get("headers", ()), b"x-forwarded-for")
        if not forwarded:
            return address
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        for hop in reversed(hops):  # right to left: the nearest hop first
            if not self._trusted(hop):
                return hop if _is_address(hop) else address
        return hops[0] if hops and _is_address(hops[0]) else address

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    # -- cross-site requests ---------------------------------------------------------------

    def check_origin(
        self, origin: str | None, fetch_site: str | None, host: str | None, action: str
    ) -> None:
        """Refuse (403) a browser request that says it comes from another site."""
        if not self.settings.check_origin:
            return
        if origin is not None:
            if not origin_allowed(origin, host, self.settings):
                refused = f"cross-site {action} refused: origin {shown(origin)} is not allowed"
                raise Forbidden(refused)
        elif fetch_site is not None and fetch_site.strip().lower() not in _SAME_SITE_FETCHES:
            raise Forbidden(f"cross-site {action} refused (Sec-Fetch-Site: {fetch_site[:32]})")

    # -- rates and open connections -----------------------------------------------------------

    def take_request(self, client: str, now: float) -> None:
        """Count one request of ``client``; ``RateLimited`` (429) when it has none left."""
        rate = self.settings.http_rate
        if rate is None:
            return
        wait = self._buckets.take(client, rate, self.settings.http_burst, now)
        if wait:
            raise RateLimited("too many requests from this client: slow down", wait)

    def open(self, slot: Slot, client: str) -> None:
        """Count an open stream or socket of ``client``; ``RateLimited`` when it has too many
        (call :meth:`close` exactly once for each successful ``open``)."""
        settings = self.settings
        limit = (
            settings.max_streams_per_client
            if slot == "stream"
            else settings.max_sockets_per_client
            if slot == "socket"
            else settings.max_page_streams_per_client
        )
        counts = self._open[slot]
        current = counts.get(client, 0)
        if current >= limit:
            raise RateLimited(f"too many open {slot}s from this client (limit {limit})", 1.0)
        counts[client] = current + 1

    def close(self, slot: Slot, client: str) -> None:
        """The end of a stream or socket counted by :meth:`open`."""
        counts = self._open[slot]
        left = counts.get(client, 0) - 1
        if left > 0:
            counts[client] = left
        else:
            counts.pop(client, None)

    def open_count(self, slot: Slot) -> int:
        """Open streams or sockets over all clients (for tests and metrics)."""
        return sum(self._open[slot].values())


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    found = None
    for key, value in headers:
        if key.lower() == wanted:
            found = bytes(value).decode("latin-1")
    return found


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
