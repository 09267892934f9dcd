"""The showcase's account corner: who is asking, and a checkout that sends the browser on.

- ``greeting``: reads ``self.request.user`` when it mounts and in every event (and the
  template reads ``request.transport``). The showcase hosts have no sign-in, so it greets a
  stranger; behind session authentication (Starlette's ``SessionMiddleware`` and
  ``AuthenticationMiddleware``, or Litestar's cookie sessions and an authentication
  middleware: docs/request.md) the same class greets the signed-in user by name.
- ``checkout``: a small cart whose checkout sends the browser to the order's page with
  ``self.redirect``. It also hears ``added``, the event the shop's products emit (``listens``:
  docs/events.md), so on the shop page (``mount(adder=False)``: no button of its own) it fills
  from "Add to cart" (here the index page with ``?ordered=N``, so every host serves it), and
  whose "pay elsewhere" asks for a redirect to another site: refused (no open redirect), shown
  in the component, which keeps its cart.

Importing this module registers both (``examples.showcase`` does).
"""

from __future__ import annotations

from typing import Any, Final

from component_framework.core import registry
from component_framework.core.access import AccessContext
from component_framework.core.component import Component

__all__ = ["FOREIGN_PAYMENT", "CheckoutComponent", "GreetingComponent", "user_name"]

#: Where "pay elsewhere" tries to send the browser: a site not in ``allowed_origins``.
FOREIGN_PAYMENT: Final = "https://pay.example.net/session/1"
MAX_ITEMS: Final = 99


def user_name(request: AccessContext) -> str | None:
    """The signed-in user's name, from what the host's authentication middleware put in the
    scope: ``None`` for nobody (no middleware, Litestar's ``None``, Starlette's
    ``UnauthenticatedUser``)."""
    user = request.user
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    name = getattr(user, "display_name", None) or getattr(user, "name", None)
    return str(name) if name else None


@registry.register("greeting")
class GreetingComponent(Component):
    """Greets whoever mounted it, and says who sent each event."""

    template_name = "greeting.html"

    def mount(self) -> None:
        self.state.update({"name": user_name(self.request), "waves": 0})

    def on_wave(self) -> None:
        self.state["waves"] += 1

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["asker"] = user_name(self.request)
        return context


@registry.register("checkout")
class CheckoutComponent(Component):
    """A cart: ``add`` fills it, ``checkout`` redirects to the order's page."""

    template_name = "checkout.html"
    listens = ("added",)

    def mount(self, adder: bool = True) -> None:
        self.state.update({"items": 0, "adder": adder})

    def on_add(self) -> None:
        self.state["items"] = min(MAX_ITEMS, self.state["items"] + 1)

    def on_added(self, product_id: int, qty: int = 1) -> None:
        """A product was added to the cart on this page (emitted by ``shop_products``)."""
        self.state["items"] = min(MAX_ITEMS, self.state["items"] + max(0, qty))

    def on_checkout(self) -> None:
        if self.state["items"]:
            self.redirect(f"/?ordered={self.state['items']}#checkout-demo")

    def on_pay_elsewhere(self) -> None:
        self.redirect(FOREIGN_PAYMENT)
