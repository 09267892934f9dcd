"""Settings of a component application and where their defaults come from.

Owns :class:`Settings` (every limit and switch, with its default) and the resolution of the
snapshot keys: explicit keys, else the ``COMPONENT_FRAMEWORK_SECRET_KEY`` environment variable
(comma-separated, the first signs), else one random key per process with a warning. The process
key is one of the two documented pieces of global state (the other is the default registry), so
that every ``ComponentASGI`` and the ``component()`` page global of one process agree on it.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from component_framework.errors import ConfigurationError
from component_framework.protocol.snapshot import SnapshotSigner

__all__ = ["ENV_DEBUG", "ENV_SECRET_KEY", "ENV_TRUST_CLIENT_STATE", "Settings"]

ENV_SECRET_KEY: Final = "COMPONENT_FRAMEWORK_SECRET_KEY"
ENV_DEBUG: Final = "COMPONENT_FRAMEWORK_DEBUG"
ENV_TRUST_CLIENT_STATE: Final = "COMPONENT_FRAMEWORK_TRUST_CLIENT_STATE"

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


def _env_keys(environ: Mapping[str, str]) -> tuple[str, ...]:
    raw = environ.get(ENV_SECRET_KEY, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every switch and limit of a component application, with secure defaults.

    ``secret_keys``: snapshot keys, the first signs; a string may hold several, comma-separated
    (empty = the ``COMPONENT_FRAMEWORK_SECRET_KEY`` variable when the signer is built, else a
    random per-process key). ``snapshot_max_age``:
    seconds a snapshot stays valid (``None`` = no expiry). ``max_snapshot_bytes``: largest token
    accepted or produced. ``max_body_bytes``: largest request body. ``max_json_depth``: deepest
    JSON nesting accepted. ``trust_client_state``: accept raw unsigned ``state`` from clients
    (only for clients you trust). ``debug``: show exception detail in 500 bodies.

    Streams (SSE): ``stream_resume_grace``: seconds a stream keeps running (and its frames are
    kept) for a client to reconnect with ``Last-Event-ID``; ``stream_heartbeat``: seconds
    between keep-alive comments; ``stream_retry_ms``: the ``retry:`` hint; ``stream_replay_frames``
    / ``stream_replay_bytes``: bounds of a stream's replay buffer; ``stream_send_timeout``: a
    client that does not take a frame within this is treated as gone;
    ``stream_frame_interval``: the batching window of stream operations (60 frames/s).
    """

    secret_keys: tuple[str, ...] | str = ()
    snapshot_max_age: float | None = None
    max_snapshot_bytes: int = 64 * 1024
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    trust_client_state: bool = False
    debug: bool = False
    stream_resume_grace: float = 5.0
    stream_heartbeat: float = 15.0
    stream_retry_ms: int = 2000
    stream_replay_frames: int = 512
    stream_replay_bytes: int = 512 * 1024
    stream_send_timeout: float = 10.0
    stream_frame_interval: float = 1 / 60

    def __post_init__(self) -> None:
        keys = self.secret_keys
        if isinstance(keys, str):
            keys = tuple(key.strip() for key in keys.split(",") if key.strip())
        object.__setattr__(self, "secret_keys", tuple(keys))
        for name in (
            "max_snapshot_bytes", "max_body_bytes", "max_json_depth", "stream_retry_ms",
            "stream_replay_frames", "stream_replay_bytes",
        ):  # fmt: skip
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigurationError(f"Settings.{name} must be a positive int, got {value!r}")
        for name in ("stream_heartbeat", "stream_send_timeout", "stream_frame_interval"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(
                    f"Settings.{name} must be a positive number, got {value!r}"
                )
        grace = self.stream_resume_grace
        if not isinstance(grace, int | float) or isinstance(grace, bool) or grace < 0:
            raise ConfigurationError(f"Settings.stream_resume_grace must be >= 0, got {grace!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the ``COMPONENT_FRAMEWORK_*`` variables, with ``overrides`` on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "secret_keys": env.get(ENV_SECRET_KEY, ""),
            "debug": _env_flag(env, ENV_DEBUG),
            "trust_client_state": _env_flag(env, ENV_TRUST_CLIENT_STATE),
        }
        values.update(overrides)
        return cls(**values)

    def build_signer(self) -> SnapshotSigner:
        """A snapshot signer for these settings (callers keep it: building one costs a little)."""
        keys = self.secret_keys or _env_keys(os.environ) or (_random_process_key(),)
        try:
            return SnapshotSigner(
                keys, max_age=self.snapshot_max_age, max_bytes=self.max_snapshot_bytes
            )
        except ValueError as exc:
            raise ConfigurationError(f"invalid snapshot key configuration: {exc}") from None
