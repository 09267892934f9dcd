"""The counter round trip through the in-process client."""

from __future__ import annotations

from component_framework.testing import ComponentTestClient


async def test_counter_increments_through_signed_snapshot(client: ComponentTestClient) -> None:
    counter = await client.mount("counter")
    assert counter.state == {"count": 0}
    await counter.send("increment")
    await counter.send("increment")
    assert counter.state == {"count": 2}
    assert '<span class="count">2</span>' in counter.html
