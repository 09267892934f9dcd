"""What the uvicorn hosts of the matrix serve: ``uvicorn tests.adversarial.served:<host>``.

Only the server processes import this module (building the apps here would hang default-hub
apps off the test process for nothing)."""

from __future__ import annotations

from tests.adversarial.apps import (
    CAPS,
    build_litestar,
    build_middleware,
    build_raw,
    build_starlette,
)

__all__ = ["capped", "litestar", "middleware", "raw", "roomy", "starlette"]

raw = build_raw(in_process=False)
middleware = build_middleware(in_process=False)
litestar = build_litestar(in_process=False)
starlette = build_starlette(in_process=False)
#: Room for the full-size attacks of ``test_cost_and_echo`` (a 2 MiB body and message).
roomy = build_raw(in_process=False, max_body_bytes=2 << 20, ws_max_message_bytes=2 << 20)
#: Small per-client caps, for the at-scale cases of the page connection and the page socket.
capped = build_raw(in_process=False, **CAPS)
