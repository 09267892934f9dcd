"""Signed state snapshots: the token a client echoes to carry component state between requests.

Owns the token format, signing and verification; does not own where keys come from (see
``core.config``) nor what a rejected token becomes on the wire (see ``errors``). Pure: no I/O,
no clock except the one passed in.

Token format (ASCII, URL-safe)::

    v2.<key id>.<payload>.<signature>

``key id`` is base64url (no padding) of the first 6 bytes of HMAC-SHA256(key,
``b"component-framework snapshot key id"``): it names the key that signed, so that a token
signed by a key this process does not have (``unknown_key``: the server restarted with a new
random key, or a worker lacks the shared key) is told apart from an edited one (``tampered``).
It reveals nothing a signature does not: both are HMACs under the key. ``payload`` is base64url
of compact JSON ``{"c": component name, "i": component id, "t": issue time (unix seconds), "s":
state}``, plus ``"p": [parent id, key]`` for a nested component (a child is bound to its
parent and its key, so its state cannot be moved to another) and ``"m"``: what the framework
keeps beside the state (the defaults of URL state), only when there is some. A **reference**
token (a component that keeps its state on the server, ``core.server_state``) carries ``"v":
version`` in place of ``"s"``: it names the stored state and the version it was issued for,
and holds no state at all; ``signature`` is base64url of HMAC-SHA256(key, ``b"v2." + key id +
b"." + payload``).
The first key signs; every key verifies, so keys can be rotated by prepending a new one and
dropping the old one after the longest snapshot lifetime. Tokens of the previous format,
``v1.<payload>.<signature>`` (HMAC over ``b"v1." + payload``, no key id), still verify; one
that matches no key is reported as ``tampered``, since nothing tells who signed it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from component_framework.protocol.compact import json_string, strict_json

__all__ = ["Snapshot", "SnapshotError", "SnapshotSigner", "key_id"]

_VERSION: Final = "v2"
_PREFIX: Final = b"v2."
_LEGACY_VERSION: Final = "v1"
_LEGACY_PREFIX: Final = b"v1."
_KEY_ID_LABEL: Final = b"component-framework snapshot key id"
_KEY_ID_CHARS: Final = 8  # 6 bytes in unpadded base64url
_MIN_KEY_BYTES: Final = 16
_SIGNATURE_CHARS: Final = 43  # 32 bytes of HMAC-SHA256 in unpadded base64url
#: Accepted clock difference between the worker that signed and the one that verifies.
CLOCK_SKEW_SECONDS: Final = 60.0

SnapshotProblem = Literal["malformed", "tampered", "unknown_key", "foreign", "expired", "oversized"]


class SnapshotError(ValueError):
    """A token was rejected; ``problem`` says why in one word."""

    def __init__(self, problem: SnapshotProblem, message: str) -> None:
        super().__init__(message)
        self.problem: SnapshotProblem = problem


@dataclass(slots=True)
class Snapshot:
    """What a verified token carries."""

    component_name: str
    component_id: str
    issued_at: float
    state: dict[str, Any]
    #: A nested component's parent id and key; ``None`` for a top-level component.
    parent: tuple[str, str] | None = None
    #: What the framework keeps beside the state (``"m"``; e.g. the defaults of URL state).
    meta: dict[str, Any] | None = None
    #: The stored version a reference token names (its ``state`` is empty); ``None`` for a
    #: token that carries its state.
    version: int | None = None


_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")
_b2a_base64: Final = binascii.b2a_base64


def _b64encode(raw: bytes) -> bytes:
    """Unpadded base64url (what ``base64.urlsafe_b64encode`` does, minus two Python layers)."""
    return _b2a_base64(raw, newline=False).translate(_TO_URLSAFE).rstrip(b"=")


def _b64decode(text: str) -> bytes:
    raw = text.encode("ascii").translate(_FROM_URLSAFE)
    return binascii.a2b_base64(raw + b"=" * (-len(raw) % 4))


def _keyed_mac(raw: bytes) -> Any:
    """A keyed HMAC-SHA256 object to copy per token: the OpenSSL object the standard library
    wraps when there is one (its ``copy``, ``update`` and ``digest`` are C calls, where the
    wrapper's ``copy`` is Python code: about a third of a signature's cost), else the
    wrapper; both compute the same HMAC."""
    mac = hmac.new(raw, digestmod=hashlib.sha256)
    inner = getattr(mac, "_hmac", None)
    if inner is not None and all(hasattr(inner, name) for name in ("copy", "update", "digest")):
        return inner
    return mac


def key_id(key: str | bytes) -> str:
    """The 8-character id that tokens signed by ``key`` carry."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    digest = hmac.new(raw, _KEY_ID_LABEL, hashlib.sha256).digest()
    return _b64encode(digest[:6]).decode("ascii")


class SnapshotSigner:
    """Signs and verifies snapshot tokens with HMAC-SHA256 and key rotation.

    ``keys``: secret keys, the first signs. ``max_age``: seconds a token stays valid (``None`` =
    no expiry). ``max_bytes``: largest token accepted or produced. ``clock``: seconds since the
    epoch, injectable for tests.
    """

    def __init__(
        self,
        keys: Sequence[str | bytes],
        *,
        max_age: float | None = None,
        max_bytes: int = 64 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("SnapshotSigner needs at least one key")
        raw_keys = [key.encode("utf-8") if isinstance(key, str) else bytes(key) for key in keys]
        for raw in raw_keys:
            if len(raw) < _MIN_KEY_BYTES:
                raise ValueError(
                    f"snapshot keys must be at least {_MIN_KEY_BYTES} bytes, got {len(raw)}"
                )
        # Pre-keyed HMAC objects: copying one is cheaper than keying a new one per token.
        self._macs = [_keyed_mac(raw) for raw in raw_keys]
        key_ids = [key_id(raw).encode("ascii") for raw in raw_keys]
        #: The verifying MAC of each key id (the first key wins a repeated one).
        self._by_key_id: dict[bytes, Any] = {}
        for identifier, mac in zip(key_ids, self._macs, strict=True):
            self._by_key_id.setdefault(identifier, mac)
        self._sign_prefix = _PREFIX + key_ids[0] + b"."
        self.max_age = max_age
        self.max_bytes = max_bytes
        self._clock = clock
        #: The last name signed for, and the payload's text up to its id's key.
        self._named = ("", '{"c":""')

    def _signature(self, mac: Any, signed: bytes) -> bytes:
        copy = mac.copy()
        copy.update(signed)
        digest: bytes = copy.digest()
        return digest

    def sign(
        self,
        component_name: str,
        component_id: str,
        state: dict[str, Any],
        parent: tuple[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Return a token for ``state`` (of a child of ``parent``: its id and the child's key;
        with the framework's ``meta``, when there is some); raises ``TypeError`` if state or
        meta is not JSON data, ``SnapshotError("oversized")`` if the token would exceed
        ``max_bytes``."""
        return self.signed_state(component_name, component_id, state, parent, meta)[0]

    def signed_state(
        self,
        component_name: str,
        component_id: str,
        state: dict[str, Any],
        parent: tuple[str, str] | None = None,
        meta: dict[str, Any] | None = None,
        state_text: str | None = None,
        id_text: str | None = None,
    ) -> tuple[str, str]:
        """:meth:`sign`'s token, and the state's JSON text as written inside it: the compact
        text any encoder of ours writes for ``state`` (a message that carries the state too
        reuses it instead of encoding the state a second time).

        The payload is joined from its encoded parts, key by key in the order of the whole
        document (``c``, ``i``, ``t``, ``s``, then ``p`` and ``m`` when given): the same text
        as the document encoded at once, without the document dict and with the state
        encoded only once. ``state_text``: that text, when the caller has it already;
        ``id_text``: ``component_id`` as a JSON string, likewise (a render message carries
        it too). The name's text is kept for the next token (most are of the same name)."""
        if state_text is None:
            state_text = strict_json(state)
        named = self._named  # (one attribute: a thread in between sees a matching pair)
        if named[0] != component_name:
            named = self._named = (component_name, '{"c":' + json_string(component_name))
        parts = [
            named[1],
            ',"i":',
            json_string(component_id) if id_text is None else id_text,
            ',"t":',
            str(int(self._clock())),
            ',"s":',
            state_text,
        ]
        if parent is not None:
            parts += (',"p":', strict_json(parent))
        if meta:
            parts += (',"m":', strict_json(meta))
        parts.append("}")
        return self._seal_text(component_name, "".join(parts)), state_text

    def sign_reference(
        self,
        component_name: str,
        component_id: str,
        version: int,
        parent: tuple[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Return a reference token: it names ``version`` of the state the server keeps for
        ``component_id`` and carries no state, only the framework's ``meta`` (verified like
        any token; ``Snapshot.version``)."""
        document: dict[str, Any] = {
            "c": component_name,
            "i": component_id,
            "t": int(self._clock()),
            "v": version,
        }
        return self._seal(component_name, document, parent, meta)

    def _seal(
        self,
        component_name: str,
        document: dict[str, Any],
        parent: tuple[str, str] | None,
        meta: dict[str, Any] | None = None,
    ) -> str:
        if parent is not None:
            document["p"] = parent
        if meta:
            document["m"] = meta
        return self._seal_text(component_name, strict_json(document))

    def _seal_text(self, component_name: str, text: str) -> str:
        """The token of the payload document ``text`` (its JSON). (:func:`_b64encode` and
        :meth:`_signature` written out: every render signs once, and each call of its path is
        code and data the CPU's caches have to hold.)"""
        payload = _b2a_base64(text.encode("utf-8"), newline=False)
        signed = self._sign_prefix + payload.translate(_TO_URLSAFE).rstrip(b"=")
        mac = self._macs[0].copy()
        mac.update(signed)
        signature = _b2a_base64(mac.digest(), newline=False).translate(_TO_URLSAFE).rstrip(b"=")
        token = (signed + b"." + signature).decode("ascii")
        if len(token) > self.max_bytes:
            raise SnapshotError(
                "oversized",
                f"snapshot of {component_name!r} is {len(token)} bytes, "
                f"over the limit of {self.max_bytes}",
            )
        return token

    def verify(self, token: str, component_name: str | None, *, expire: bool = True) -> Snapshot:
        """Check ``token`` and return its snapshot, or raise :class:`SnapshotError`.
        ``component_name``: the component it must belong to (``None``: any).

        The signature is checked before anything in the payload is decoded, so a forged token
        never reaches the JSON parser. ``expire=False`` skips the issue-time checks: for a
        token the server issued and kept itself (a held component's last state), whose age
        says nothing about a client.
        """
        if len(token) > self.max_bytes:
            raise SnapshotError(
                "oversized", f"snapshot is {len(token)} bytes, over the limit of {self.max_bytes}"
            )
        parts = token.split(".")
        if len(parts) == 4 and parts[0] == _VERSION:
            identifier_text, payload_text, signature_text = parts[1], parts[2], parts[3]
            if len(identifier_text) != _KEY_ID_CHARS:
                raise SnapshotError("malformed", "snapshot key id has the wrong length")
        elif len(parts) == 3 and parts[0] == _LEGACY_VERSION:
            identifier_text, payload_text, signature_text = "", parts[1], parts[2]
        else:
            raise SnapshotError("malformed", "snapshot is not a v2 token")
        if len(signature_text) != _SIGNATURE_CHARS:
            raise SnapshotError("malformed", "snapshot signature has the wrong length")
        try:
            identifier = identifier_text.encode("ascii")
            payload = payload_text.encode("ascii")
            presented = signature_text.encode("ascii")
        except UnicodeEncodeError:
            raise SnapshotError("malformed", "snapshot is not ASCII") from None
        # The exact payload text is signed, and the signature is compared as canonical text,
        # so no other spelling of a token (padding, '+/', spare bits) verifies.
        if identifier:
            mac = self._by_key_id.get(identifier)
            if mac is None:
                raise SnapshotError(
                    "unknown_key", "snapshot was signed with a key this server does not have"
                )
            signed = _PREFIX + identifier + b"." + payload
            if hmac.compare_digest(_b64encode(self._signature(mac, signed)), presented):
                return self._decode(payload_text, component_name, expire)
            raise SnapshotError("tampered", "snapshot signature does not match")
        signed = _LEGACY_PREFIX + payload
        for mac in self._macs:
            if hmac.compare_digest(_b64encode(self._signature(mac, signed)), presented):
                return self._decode(payload_text, component_name, expire)
        raise SnapshotError("tampered", "snapshot signature does not match")

    def _decode(self, payload_text: str, component_name: str | None, expire: bool) -> Snapshot:
        try:
            document = json.loads(_b64decode(payload_text))
        except (binascii.Error, ValueError, RecursionError) as exc:
            # Only reachable with a correctly signed token that we did not produce.
            raise SnapshotError("malformed", "snapshot payload is not JSON") from exc
        if not isinstance(document, dict):
            raise SnapshotError("malformed", "snapshot payload is not an object")
        name, component_id = document.get("c"), document.get("i")
        issued_at, state, meta = document.get("t"), document.get("s"), document.get("m")
        version = document.get("v")
        if version is not None:
            if type(version) is not int or version < 1 or state is not None:
                raise SnapshotError("malformed", "snapshot payload has a malformed version")
            state = {}
        if not (
            isinstance(name, str)
            and isinstance(component_id, str)
            and type(issued_at) is int
            and isinstance(state, dict)
            and (meta is None or isinstance(meta, dict))
        ):
            raise SnapshotError("malformed", "snapshot payload lacks name, id, time or state")
        if name != component_name and component_name is not None:
            raise SnapshotError(
                "foreign", f"snapshot belongs to component {name!r}, not {component_name!r}"
            )
        parent = document.get("p")
        if parent is not None:
            if not (
                isinstance(parent, list)
                and len(parent) == 2
                and all(isinstance(part, str) for part in parent)
            ):
                raise SnapshotError("malformed", "snapshot payload has a malformed parent")
            parent = (parent[0], parent[1])
        if not expire:
            return Snapshot(name, component_id, float(issued_at), state, parent, meta, version)
        now = self._clock()
        if issued_at > now + CLOCK_SKEW_SECONDS:
            raise SnapshotError("expired", "snapshot was issued in the future")
        if self.max_age is not None and now - issued_at > self.max_age:
            raise SnapshotError("expired", f"snapshot is older than {self.max_age:g} seconds")
        return Snapshot(name, component_id, float(issued_at), state, parent, meta, version)
