"""Run in a subprocess by ``test_signals.py``: the signal hook is process-wide state, so it is
exercised in a process of its own. ``python -m tests.streaming.signal_probe`` prints one JSON
object describing what happened:

- ``during_stream``: SIGTERM while a stream is open, on the loop serving it;
- ``after_loop_closed``: SIGTERM and SIGINT after that loop was closed;
- ``second_loop``: SIGTERM while a stream of a new app on a new loop is open.

The "server's" handlers are recorders installed before any app exists, so no signal ever
reaches Python's default action (which would kill this process).
"""

from __future__ import annotations

import asyncio
import json
import signal
from types import FrameType
from typing import Any

from component_framework import ComponentASGI, Settings
from tests.streaming import stream_components
from tests.streaming.exchange import Exchange

received: list[int] = []


def previous_handler(signum: int, frame: FrameType | None) -> None:
    received.append(signum)


def build_app() -> ComponentASGI:
    return ComponentASGI(
        registry=stream_components.registry,
        renderer=stream_components.renderer,
        settings=Settings(secret_keys=(stream_components.SECRET,)),
        shutdown_on_signals=True,
    )


async def stream_then_sigterm(tag: str) -> dict[str, Any]:
    stream_components.pacer.reset()
    app = build_app()
    exchange = Exchange.stream(app, "paced", query={"tag": tag, "steps": 3})
    await exchange.events_count(1)
    before = len(received)
    outcome = signal_outcome(signal.SIGTERM)
    # The previous handler runs once the app's final frames went out, not inside the signal.
    outcome["previous_held"] = received[before:] == []
    try:
        await exchange.run_to_end(within=2)
    except AssertionError as error:
        outcome["error"] = str(error)
        exchange.cancel()
    await asyncio.sleep(0.05)
    outcome["events"] = [event.event for event in exchange.events]
    outcome["finally_ran"] = stream_components.journal.has("finally", tag)
    outcome["previous_called"] = received[before:] == [signal.SIGTERM]
    await app.shutdown()
    return outcome


def signal_outcome(signum: int) -> dict[str, Any]:
    before = len(received)
    try:
        signal.raise_signal(signum)
    except BaseException as error:  # report whatever escaped the handler
        return {"previous_called": received[before:] == [signum], "raised": repr(error)}
    return {"previous_called": received[before:] == [signum], "raised": None}


def main() -> None:
    signal.signal(signal.SIGTERM, previous_handler)
    signal.signal(signal.SIGINT, previous_handler)
    report: dict[str, Any] = {"during_stream": asyncio.run(stream_then_sigterm("first"))}
    report["after_loop_closed"] = {
        "SIGTERM": signal_outcome(signal.SIGTERM),
        "SIGINT": signal_outcome(signal.SIGINT),
    }
    report["second_loop"] = asyncio.run(stream_then_sigterm("second"))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
