"""component-framework: server-driven interactive UI components over raw ASGI.

``ComponentASGI`` is the application; components are defined with
``component_framework.core.component.Component`` and registered with
``component_framework.core.registry``.
"""

from component_framework.asgi.app import ComponentASGI
from component_framework.core.config import Settings

__all__ = ["ComponentASGI", "Settings"]
__version__ = "0.1.0"
