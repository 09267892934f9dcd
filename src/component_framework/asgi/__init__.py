"""The ASGI layer: the only code that touches ``scope``, ``receive`` and ``send``.

``ComponentASGI`` routes; each transport module owns one kind of exchange.
"""

from component_framework.asgi.app import ComponentASGI

__all__ = ["ComponentASGI"]
