"""Settings of a component application and where their defaults come from.

Owns :class:`Settings` (every limit and switch, with its default) and the resolution of the
snapshot keys: explicit keys, else the ``COMPONENT_FRAMEWORK_SECRET_KEY`` environment variable
(comma-separated, the first signs), else, with ``debug`` on only, the development key kept in
``.component-framework-dev-key`` in the working directory (or the file that
``COMPONENT_FRAMEWORK_DEV_KEY_FILE`` names), created on first use, so that open pages survive a
restart during development; else one random key per process with a warning. Also how an on/off
environment variable is read (:func:`env_flag`). The process key is
one of the two documented pieces of global state (the other is the default registry), so that
every ``ComponentASGI`` and the ``component()`` page global of one process agree on it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from component_framework.errors import ConfigurationError
from component_framework.protocol.request import DEFAULT_MAX_FIELDS
from component_framework.protocol.snapshot import SnapshotSigner

__all__ = [
    "DEV_KEY_FILE",
    "ENV_ALLOWED_HOSTS",
    "ENV_ALLOWED_ORIGINS",
    "ENV_DEBUG",
    "ENV_DEV_KEY_FILE",
    "ENV_EVENT_RATE_LIMITS",
    "ENV_SECRET_KEY",
    "ENV_STATE_ON_SERVER",
    "ENV_STATE_STORE_URL",
    "ENV_TRUSTED_PROXIES",
    "ENV_TRUST_CLIENT_STATE",
    "ENV_VENDOR_DIRECTORY",
    "OutboxPolicy",
    "Settings",
    "env_flag",
]

ENV_SECRET_KEY: Final = "COMPONENT_FRAMEWORK_SECRET_KEY"
ENV_DEBUG: Final = "COMPONENT_FRAMEWORK_DEBUG"
ENV_TRUST_CLIENT_STATE: Final = "COMPONENT_FRAMEWORK_TRUST_CLIENT_STATE"
ENV_ALLOWED_ORIGINS: Final = "COMPONENT_FRAMEWORK_ALLOWED_ORIGINS"
ENV_ALLOWED_HOSTS: Final = "COMPONENT_FRAMEWORK_ALLOWED_HOSTS"
ENV_VENDOR_DIRECTORY: Final = "COMPONENT_FRAMEWORK_VENDOR_DIR"
ENV_TRUSTED_PROXIES: Final = "COMPONENT_FRAMEWORK_TRUSTED_PROXIES"
ENV_EVENT_RATE_LIMITS: Final = "COMPONENT_FRAMEWORK_EVENT_RATE_LIMITS"
ENV_DEV_KEY_FILE: Final = "COMPONENT_FRAMEWORK_DEV_KEY_FILE"
ENV_STATE_ON_SERVER: Final = "COMPONENT_FRAMEWORK_STATE_ON_SERVER"
ENV_STATE_STORE_URL: Final = "COMPONENT_FRAMEWORK_STATE_STORE_URL"
#: The broker's variable (``core.hub``): its Redis also keeps server-held state by default.
ENV_BROKER_URL: Final = "COMPONENT_FRAMEWORK_BROKER_URL"
#: Where the development key lives (relative to the working directory), unless
#: ``COMPONENT_FRAMEWORK_DEV_KEY_FILE`` names another file. Git-ignored; read only in ``debug``.
DEV_KEY_FILE: Final = ".component-framework-dev-key"

#: What happens when a WebSocket client does not take its messages fast enough: ``coalesce``
#: keeps only the newest unsent push render (renders carry the whole state) and closes with
#: 1013 only when other messages overflow; ``disconnect`` closes with 1013 on overflow.
OutboxPolicy = Literal["coalesce", "disconnect"]

logger = logging.getLogger("component_framework")

_process_key: str | None = None
_process_key_lock = threading.Lock()


def _random_process_key() -> str:
    global _process_key
    with _process_key_lock:
        if _process_key is None:
            _process_key = secrets.token_urlsafe(32)
            logger.warning(
                "No snapshot key configured (set %s): using a random key for this process. "
                "Snapshots will not survive a restart and will not be accepted by other workers.",
                ENV_SECRET_KEY,
            )
        return _process_key


_development_keys: dict[Path, str] = {}


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key.encode("utf-8")) < 16:
        raise ValueError("it holds fewer than 16 bytes")
    return key


def _write_new_key(path: Path) -> str:
    """A new random key in ``path``, unless another process wrote one first (then that one):
    the key goes to a private temporary file that is then linked into place, which fails if
    the file exists, so no worker ever reads a half-written key or replaces another's."""
    key = secrets.token_urlsafe(32)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(key + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        return _read_key(path)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def _development_key(environ: Mapping[str, str]) -> str | None:
    """The development key (``debug`` only): read from its file, or created there once."""
    path = Path(environ.get(ENV_DEV_KEY_FILE, "").strip() or DEV_KEY_FILE).absolute()
    with _process_key_lock:
        if path in _development_keys:
            return _development_keys[path]
        try:
            try:
                key, verb = _read_key(path), "kept"
            except FileNotFoundError:
                key, verb = _write_new_key(path), "created"
        except (OSError, ValueError) as exc:
            logger.warning(
                "debug is on but the development snapshot key file %s cannot be used (%s): "
                "using a random key for this process instead",
                path,
                exc,
            )
            return None
        _development_keys[path] = key
        logger.warning(
            "debug is on and no snapshot key is configured (%s): using the development key "
            "%s in %s, so open pages survive restarts. Never used with debug off; keep the "
            "file out of version control.",
            ENV_SECRET_KEY,
            verb,
            path,
        )
        return key


def _env_keys(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get(ENV_SECRET_KEY, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def env_flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    """The on/off setting environment variable ``name`` holds (``1``, ``true``, ``yes``,
    ``on``, any case: on; anything else set: off; unset or blank: ``default``): how
    :meth:`Settings.from_env` reads its flags, and ``Jinja2Renderer`` the debug flag."""
    value = environ.get(name, "").strip().lower()
    return value in {"1", "true", "yes", "on"} if value else default


def _check_networks(entries: tuple[str, ...]) -> tuple[str, ...]:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"Settings.trusted_proxies: expected addresses or networks such as 10.0.0.1 or "
                f"10.0.0.0/8, got {entry!r}"
            ) from None
    return entries


def _check_positive(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or value != value  # NaN compares false with everything, so it would disable a limit
        or value <= 0
    ):
        raise ConfigurationError(f"Settings.{name} must be a positive number, got {value!r}")


def _normalise_origins(origins: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Origins compare lowercase and without a trailing slash; ``*`` allows any."""
    normalised = []
    for origin in origins:
        if not isinstance(origin, str):
            raise ConfigurationError(f"Settings.allowed_origins holds {origin!r}, not a string")
        origin = origin.strip().rstrip("/").lower()
        if not origin:
            continue
        if origin != "*" and "://" not in origin:
            raise ConfigurationError(
                f"Settings.allowed_origins: {origin!r} is not an origin like 'https://host'"
            )
        normalised.append(origin)
    return tuple(normalised)


def _normalise_hosts(hosts: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Host patterns compare lowercase: ``example.com`` (any port), ``example.com:8000``,
    ``[::1]``, ``*.example.com`` (any subdomain, not the name itself), ``*`` (any)."""
    normalised = []
    for host in hosts:
        if not isinstance(host, str):
            raise ConfigurationError(f"Settings.allowed_hosts holds {host!r}, not a string")
        host = host.strip().lower()
        if not host:
            continue
        wildcard = host.startswith("*.")
        name = host[2:] if wildcard else host
        if host != "*" and (not name or any(char in name for char in "/*@ ")):
            raise ConfigurationError(
                "Settings.allowed_hosts: expected host names such as 'example.com', "
                f"'example.com:8000' or '*.example.com', got {host!r}"
            )
        normalised.append(host)
    return tuple(normalised)


#: Settings that must be an ``int`` of at least 1.
_POSITIVE_INTS: Final = (
    *("max_snapshot_bytes", "max_body_bytes", "max_json_depth", "max_fields"),
    *("stream_retry_ms", "stream_replay_frames", "stream_replay_bytes"),
    *("ws_max_message_bytes", "ws_burst", "ws_inbox_messages", "ws_outbox_messages"),
    *("ws_outbox_bytes", "http_burst", "max_streams_per_client", "max_sockets_per_client"),
    *("max_page_streams_per_client", "ws_max_components"),
    *("upload_max_file_bytes", "upload_max_files", "upload_max_bytes", "upload_spool_bytes"),
    "upload_chunk_bytes",
    "state_max_bytes",
)
#: Settings that must be a positive number (never ``None``).
_POSITIVE_NUMBERS: Final = (
    *("stream_heartbeat", "stream_send_timeout", "stream_frame_interval", "ws_rate"),
    *("ws_send_timeout", "ws_join_timeout", "upload_resumable_ttl", "state_ttl"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Every switch and limit of a component application, with secure defaults.

    ``secret_keys``: snapshot keys, the first signs; a string may hold several, comma-separated
    (empty = the ``COMPONENT_FRAMEWORK_SECRET_KEY`` variable when the signer is built, else with
    ``debug`` the development key file ``.component-framework-dev-key``, else a random
    per-process key). ``snapshot_max_age``:
    seconds a snapshot stays valid (``None`` = no expiry). ``max_snapshot_bytes``: largest token
    accepted or produced (a request whose new state would be larger is refused with ``413
    snapshot_too_large`` and not applied). ``max_body_bytes``: largest request body.
    ``max_json_depth``: deepest JSON nesting accepted. ``max_fields``: most fields one request
    or WebSocket message may carry: form or query fields plus the keys of every JSON object in
    it, at any depth (more is ``413 payload_too_large``); also the most fields with errors an
    invalid form reports. ``trust_client_state``: accept raw
    unsigned ``state`` from clients (only for clients you trust). ``debug``: show exception
    detail in 500 bodies, re-read edited templates (``Jinja2Renderer``) without a restart, and
    without a configured key sign with the development key file (open pages survive restarts).

    Streams (SSE): ``stream_resume_grace``: seconds a stream keeps running (and its frames are
    kept) for a client to reconnect with ``Last-Event-ID``; ``stream_heartbeat``: seconds
    between keep-alive comments; ``stream_retry_ms``: the ``retry:`` hint; ``stream_replay_frames``
    / ``stream_replay_bytes``: bounds of a stream's replay buffer; ``stream_send_timeout``: a
    client that does not take a frame within this is treated as gone;
    ``stream_frame_interval``: the batching window of stream operations (60 frames/s).

    ``allowed_hosts``: the host names this app answers for (``example.com``,
    ``example.com:8000``, ``*.example.com``, ``*``); a request whose ``Host`` is not among them,
    or that has none, is refused with ``400 host_not_allowed`` before anything else (DNS
    rebinding). Empty (the default): any ``Host``.

    WebSocket: ``allowed_origins``: origins (``https://app.example``) allowed to open a socket
    besides the server's own host (``"*"`` = any; a handshake without ``Origin``, from a
    non-browser client, is always allowed); ``ws_max_message_bytes``: largest client message
    (larger closes with 1009); ``ws_rate`` / ``ws_burst``: client messages per second and the
    burst allowed above it (more gets a ``rate_limited`` error, and a flood of ``ws_burst``
    refused messages in a row closes with 1008); ``ws_inbox_messages``: messages queued per
    connection for its component; ``ws_outbox_messages`` / ``ws_outbox_bytes`` /
    ``ws_outbox_policy``: the bounded outbox of a slow client (see :data:`OutboxPolicy`);
    ``ws_send_timeout``: a client that does not take a message within this is closed (1013);
    ``ws_idle_timeout``: close (1001) a socket that received nothing for this long (``None``:
    never; the server's own WebSocket pings already drop dead peers); ``ws_join_timeout``: a
    socket opened with ``join=message`` that sent no ``join`` within this is closed (1008);
    ``ws_max_components``: most components one socket holds, its own and those joined to it
    (the page's socket); a join past it is refused (``rate_limited``), the socket stays open.

    Clients and abuse: ``check_origin``: refuse state-changing HTTP requests (``POST``, and
    stream starts) whose ``Origin`` (or, without one, ``Sec-Fetch-Site``) says they come from
    another site; requests without either header (non-browser clients) pass. Trusted origins
    are ``allowed_origins``. ``http_rate`` / ``http_burst``: component requests per second per
    client address and the burst above it (``None``: no limit; more gets ``429`` with
    ``Retry-After``). ``event_rate_limits``: apply the per-client rates that handlers declare
    with ``@rate_limit`` (``False``, or ``COMPONENT_FRAMEWORK_EVENT_RATE_LIMITS=off``, ignores
    them: load tests). ``max_streams_per_client`` / ``max_sockets_per_client``: open SSE
    responses and WebSocket connections per client address (more gets ``429`` / close 1008;
    a page connection is one open response). ``max_page_streams_per_client``: runs a client
    address started through page connections that are still alive (running, or within their
    resume grace); more are each refused with ``429``.
    ``trusted_proxies``: addresses or networks (``10.0.0.0/8``) of reverse proxies whose
    ``X-Forwarded-For`` names the real client; from anyone else it is ignored.
    ``handler_timeout``: seconds an ``async`` mount or handler may take before it is cancelled
    (504); sync code cannot be interrupted. ``body_timeout``: seconds a request body may take
    to arrive (then 408: slow bodies; slow headers are the server's to bound).
    ``stream_max_seconds``: longest run of a stream handler (then an ``error`` frame with code
    ``stream_timeout``); ``None``: no limit.

    Uploads (``multipart/form-data`` bodies, checked while they stream in; see
    ``core.uploads``): ``upload_max_file_bytes``: largest file; ``upload_max_files``: most files
    in one request; ``upload_max_bytes``: largest whole multipart body (files and fields; such
    a body is not held to ``max_body_bytes``, whose 1 MiB would refuse a photo). The text
    fields of a multipart body keep the ordinary limits: at most ``max_fields`` of them, and
    ``max_body_bytes`` for all their bytes together. Past one: ``413 upload_too_large`` naming
    the setting. ``upload_spool_bytes``: a file is kept in memory up to this size, then moved
    to an anonymous temporary file in ``upload_directory`` (``None``: the system's temporary
    directory), which disappears when it is closed, even if the process is killed.
    ``upload_timeout``: seconds a whole multipart body may take to arrive (then 408; it
    replaces ``body_timeout``, whose 15 s would cut off a large file on a slow link).
    Resumable uploads (``core.resumable``, ``docs/uploads.md``): their partial data lives in
    ``upload_resumable_directory`` (``None``: ``component-framework-uploads`` in the system's
    temporary directory) and is removed once untouched for ``upload_resumable_ttl`` seconds
    (3600); ``upload_chunk_bytes`` is the largest chunk one request may append (8 MiB).

    Browser assets: the app serves htmx and its sse and ws extensions under ``/_static/`` (no
    CDN needed), from the copies shipped with the package. ``vendor_directory``: a folder laid
    out like ``node_modules`` holding the ``htmx.org``, ``htmx-ext-sse`` and ``htmx-ext-ws``
    packages to serve instead (``None``: the shipped copies).

    Server-held state (``core.server_state``, ``docs/server-state.md``): ``state_on_server``:
    the default of components that do not say (``Component.state_on_server``): keep state in
    the store and give clients a signed reference only. ``state_store_url``: where
    (``memory://``: this process; ``redis://...``); ``None``: the
    ``COMPONENT_FRAMEWORK_STATE_STORE_URL`` variable, else the broker's
    (``COMPONENT_FRAMEWORK_BROKER_URL``), else ``memory://``. ``state_ttl``: seconds a stored
    state lives after its last event (then ``410 state_expired``). ``state_max_bytes``: the
    largest stored state (larger is ``413 snapshot_too_large``, not applied).
    """

    secret_keys: tuple[str, ...] | str = ()
    snapshot_max_age: float | None = None
    max_snapshot_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    max_fields: int = DEFAULT_MAX_FIELDS
    trust_client_state: bool = False
    debug: bool = False
    stream_resume_grace: float = 5.0
    stream_heartbeat: float = 15.0
    stream_retry_ms: int = 2000
    stream_replay_frames: int = 512
    stream_replay_bytes: int = 512 * 1024
    stream_send_timeout: float = 10.0
    stream_frame_interval: float = 1 / 60
    allowed_origins: tuple[str, ...] | str = ()
    allowed_hosts: tuple[str, ...] | str = ()
    ws_max_message_bytes: int = 1024 * 1024
    ws_rate: float = 50.0
    ws_burst: int = 100
    ws_inbox_messages: int = 1024
    ws_outbox_messages: int = 256
    ws_outbox_bytes: int = 4 * 1024 * 1024
    ws_outbox_policy: OutboxPolicy = "coalesce"
    ws_send_timeout: float = 10.0
    ws_idle_timeout: float | None = None
    ws_join_timeout: float = 5.0
    ws_max_components: int = 32
    vendor_directory: Path | str | None = None
    check_origin: bool = True
    http_rate: float | None = 50.0
    http_burst: int = 200
    event_rate_limits: bool = True
    max_streams_per_client: int = 32
    max_sockets_per_client: int = 64
    max_page_streams_per_client: int = 128
    trusted_proxies: tuple[str, ...] | str = ()
    handler_timeout: float | None = 30.0
    body_timeout: float | None = 15.0
    stream_max_seconds: float | None = 3600.0
    upload_max_file_bytes: int = 16 * 1024 * 1024
    upload_max_files: int = 10
    upload_max_bytes: int = 64 * 1024 * 1024
    upload_spool_bytes: int = 1024 * 1024
    upload_directory: Path | str | None = None
    upload_timeout: float | None = 300.0
    upload_resumable_directory: Path | str | None = None
    upload_resumable_ttl: float = 3600.0
    upload_chunk_bytes: int = 8 * 1024 * 1024
    state_on_server: bool = False
    state_store_url: str | None = None
    state_ttl: float = 3600.0
    state_max_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        keys = self.secret_keys
        if isinstance(keys, str):
            keys = tuple(key.strip() for key in keys.split(",") if key.strip())
        object.__setattr__(self, "secret_keys", tuple(keys))
        origins = self.allowed_origins
        if isinstance(origins, str):
            origins = tuple(origin for origin in origins.split(","))
        object.__setattr__(self, "allowed_origins", _normalise_origins(origins))
        hosts = self.allowed_hosts
        if isinstance(hosts, str):
            hosts = tuple(hosts.split(","))
        object.__setattr__(self, "allowed_hosts", _normalise_hosts(hosts))
        proxies = self.trusted_proxies
        if isinstance(proxies, str):
            proxies = tuple(entry.strip() for entry in proxies.split(",") if entry.strip())
        object.__setattr__(self, "trusted_proxies", _check_networks(tuple(proxies)))
        if isinstance(self.vendor_directory, str):
            vendor = self.vendor_directory.strip()
            object.__setattr__(self, "vendor_directory", Path(vendor) if vendor else None)
        if isinstance(self.upload_resumable_directory, str):
            folder = self.upload_resumable_directory.strip()
            object.__setattr__(self, "upload_resumable_directory", Path(folder) if folder else None)
        if isinstance(self.upload_directory, str):
            folder = self.upload_directory.strip()
            object.__setattr__(self, "upload_directory", Path(folder) if folder else None)
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigurationError(f"Settings.{name} must be a positive int, got {value!r}")
        if self.ws_outbox_policy not in ("coalesce", "disconnect"):
            raise ConfigurationError(
                "Settings.ws_outbox_policy must be 'coalesce' or 'disconnect', "
                f"got {self.ws_outbox_policy!r}"
            )
        for name in (
            "ws_idle_timeout",
            "http_rate",
            "handler_timeout",
            "stream_max_seconds",
            "body_timeout",
            "upload_timeout",
            "snapshot_max_age",
        ):
            if getattr(self, name) is not None:
                _check_positive(name, getattr(self, name))
        for name in _POSITIVE_NUMBERS:
            _check_positive(name, getattr(self, name))
        grace = self.stream_resume_grace
        if not isinstance(grace, int | float) or isinstance(grace, bool) or grace < 0:
            raise ConfigurationError(f"Settings.stream_resume_grace must be >= 0, got {grace!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the ``COMPONENT_FRAMEWORK_*`` variables, with ``overrides`` on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "secret_keys": env.get(ENV_SECRET_KEY, ""),
            "debug": env_flag(env, ENV_DEBUG),
            "trust_client_state": env_flag(env, ENV_TRUST_CLIENT_STATE),
            "allowed_origins": env.get(ENV_ALLOWED_ORIGINS, ""),
            "allowed_hosts": env.get(ENV_ALLOWED_HOSTS, ""),
            "vendor_directory": env.get(ENV_VENDOR_DIRECTORY, ""),
            "trusted_proxies": env.get(ENV_TRUSTED_PROXIES, ""),
            "event_rate_limits": env_flag(env, ENV_EVENT_RATE_LIMITS, default=True),
            "state_on_server": env_flag(env, ENV_STATE_ON_SERVER),
        }
        values.update(overrides)
        return cls(**values)

    def signing_keys(self) -> tuple[str, ...]:
        """The keys in force, the first signs: ``secret_keys``, else the environment's, else
        the development key (``debug``), else the random process key."""
        keys = self.secret_keys or _env_keys(os.environ)
        if not keys:
            development = _development_key(os.environ) if self.debug else None
            keys = (development or _random_process_key(),)
        return tuple(keys)

    def state_store_location(self, broker_url: str | None = None) -> str:
        """Where server-held state lives: ``state_store_url``, else the
        ``COMPONENT_FRAMEWORK_STATE_STORE_URL`` variable, else the URL of the app's broker
        (``broker_url``; else ``COMPONENT_FRAMEWORK_BROKER_URL``), else ``memory://``."""
        for url in (
            self.state_store_url,
            os.environ.get(ENV_STATE_STORE_URL),
            broker_url,
            os.environ.get(ENV_BROKER_URL),
        ):
            if url and url.strip():
                return url.strip()
        return "memory://"

    def build_signer(self) -> SnapshotSigner:
        """A snapshot signer for these settings (callers keep it: building one costs a little)."""
        keys = self.signing_keys()
        try:
            return SnapshotSigner(
                keys, max_age=self.snapshot_max_age, max_bytes=self.max_snapshot_bytes
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid snapshot key configuration: {exc}") from None
