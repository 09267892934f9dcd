"""What the uvicorn hosts of the matrix serve: ``uvicorn tests.adversarial.served:<host>``.

Only the server processes import this module (building the apps here would hang default-hub
apps off the test process for nothing)."""

from __future__ import annotations

from typing import Final

from tests.adversarial.apps import (
    CAPS,
    build_litestar,
    build_middleware,
    build_raw,
    build_starlette,
)

__all__ = ["capped", "litestar", "middleware", "raw", "roomy", "starlette"]

#: A uvicorn host serves a whole test module from one client address, and a page run counts
#: against ``max_page_streams_per_client`` until its resume grace (5 s) has passed, even once
#: finished: the matrix opens hundreds of good page connections a few seconds apart, so the
#: served hosts get a cap no test reaches (as ``apps.settings`` does for the HTTP rate); the
#: caps themselves are tested on ``capped`` and in process.
_PAGE_ROOM: Final = {"max_page_streams_per_client": 100_000}
raw = build_raw(in_process=False, **_PAGE_ROOM)
middleware = build_middleware(in_process=False, **_PAGE_ROOM)
litestar = build_litestar(in_process=False, **_PAGE_ROOM)
starlette = build_starlette(in_process=False, **_PAGE_ROOM)
#: Room for the full-size attacks of ``test_cost_and_echo`` (a 2 MiB body and message).
roomy = build_raw(in_process=False, max_body_bytes=2 << 20, ws_max_message_bytes=2 << 20)
#: Small per-client caps, for the at-scale cases of the page connection and the page socket.
capped = build_raw(in_process=False, **CAPS)
