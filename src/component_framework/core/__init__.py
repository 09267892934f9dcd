"""The component core: model, registry, binding, dispatch and the renderer protocol.

No ASGI, no Litestar and no Jinja imports here: the same core serves every host and transport.
``registry`` is the default-registry module, so ``@registry.register("counter")`` works.
"""

from component_framework.core import registry
from component_framework.core.component import Component, StreamingComponent
from component_framework.core.config import Settings
from component_framework.core.dispatch import ComponentCall, Dispatcher, DispatchResult
from component_framework.core.registry import ComponentRegistry
from component_framework.core.renderer import Renderer

__all__ = [
    "Component",
    "ComponentCall",
    "ComponentRegistry",
    "DispatchResult",
    "Dispatcher",
    "Renderer",
    "Settings",
    "StreamingComponent",
    "registry",
]
