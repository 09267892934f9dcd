"""The SSE stream of the guide's report on every host: one frame per yield, then done."""

from __future__ import annotations

import json

import pytest

from component_framework.protocol.sse import SSEDecoder
from tests.hosts.hosts import HostClient


@pytest.mark.parametrize("slash", ["/", ""], ids=["slash", "no-slash"])
async def test_report_streams_one_frame_per_yield_then_done(host: HostClient, slash: str) -> None:
    response = await host.request(
        "GET", f"/components/report/stream{slash}", query={"report_id": "7"}
    )
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    assert response.header("cache-control") == "no-cache"
    assert response.header("x-accel-buffering") == "no"
    decoder = SSEDecoder()
    events = decoder.feed(response.body)
    assert not decoder.pending
    assert [event.event for event in events] == ["message"] * 4 + ["done"]
    assert "Summary #7" in events[0].data
    assert "Forecast #7" in events[2].data
    assert "<p>done</p>" not in events[2].data
    assert "<p>done</p>" in events[3].data
    run_ids = {event.id.rpartition(".")[0] for event in events if event.id}
    assert len(run_ids) == 1
    assert [event.id.rpartition(".")[2] for event in events if event.id] == list("12345")
    assert decoder.retry is not None


async def test_stream_accepts_a_post_body(host: HostClient) -> None:
    response = await host.request(
        "POST", "/components/report/stream/", json={"event": "generate", "report_id": 3}
    )
    events = SSEDecoder().feed(response.body)
    assert [event.event for event in events][-1] == "done"
    assert "Revenue #3" in events[1].data


async def test_reconnect_to_a_finished_stream_is_204(host: HostClient) -> None:
    response = await host.request("GET", "/components/report/stream/", query={"report_id": "1"})
    last_id = SSEDecoder().feed(response.body)[-1].id
    assert last_id is not None
    again = await host.request(
        "GET", "/components/report/stream/", headers={"Last-Event-ID": last_id}
    )
    assert again.status == 204
    assert again.body == b""


async def test_a_page_connection_carries_two_reports_on_every_host(host: HostClient) -> None:
    streams = [
        {"key": "a", "name": "report", "query": "report_id=1"},
        {"key": "b", "name": "report", "query": "report_id=2"},
    ]
    response = await host.request("POST", "/components/_page/", json={"streams": streams})
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream; charset=utf-8"
    events = SSEDecoder().feed(response.body)
    joined = [json.loads(event.data) for event in events if event.event == "page"]
    assert [control["key"] for control in joined] == ["a", "b"]
    for control, report_id in zip(joined, (1, 2), strict=True):
        frames = [e for e in events if (e.id or "").startswith(control["run"] + ".")]
        assert [frame.event for frame in frames] == ["message"] * 4 + ["done"]
        assert f"Summary #{report_id}" in frames[0].data
