"""The Litestar app of the multi-process tests: ``uvicorn tests.broker.litestar_app:app``.

An app that already runs Litestar's ``ChannelsPlugin`` on PostgreSQL (the asyncpg backend, DSN
from ``CF_TEST_CHANNELS_DSN``) and hands that plugin to the default hub as its broker, so that
broadcasts between processes travel through the app's own channels. The components and their
``ComponentASGI`` are those of ``tests.broker.ws_app``, mounted with ``ComponentPlugin``; the
plugin also declares a channel of the app's own (``prices``).
"""

from __future__ import annotations

import os

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.asyncpg import AsyncPgChannelsBackend

from component_framework.adapters.litestar import ComponentPlugin
from component_framework.adapters.litestar_channels_broker import LitestarChannelsBroker
from component_framework.core.hub import DEFAULT_CHANNEL
from component_framework.core.websocket import WebSocketManager
from tests.broker.ws_app import app as components

__all__ = ["app", "channels"]

channels = ChannelsPlugin(
    AsyncPgChannelsBackend(dsn=os.environ["CF_TEST_CHANNELS_DSN"]),
    channels=["prices", DEFAULT_CHANNEL],
)
WebSocketManager(broker=LitestarChannelsBroker(channels))
app = Litestar(plugins=[channels, ComponentPlugin(components)])
