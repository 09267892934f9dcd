"""The showcase's shop page (``/shop``): a small real app on the composition features.

- ``shop_products``: the product list. Its search text and page live in the page's URL
  (``url_state = ("q", "page")``): a search is bookmarkable, a reload keeps it, typing replaces
  the history entry and each page change adds one (``url_history``), so Back goes to the
  previous page of results. Each product is a nested component,
  ``{{ component("shop_item", key=product.id, product_id=product.id) }}`` (docs/nesting.md):
  a search or a page change re-renders the list, and a product still shown keeps its state.
  The list hears ``featured`` (``listens``) to show the featured product.
- ``shop_item``: one product. "Add to cart" emits ``added`` (``self.emit``, docs/events.md)
  and counts how many this visitor added. It reads ``self.request.user``: the shop's owner
  (``SHOP_OWNER``, signed in through the host's session authentication) sees a "Feature"
  button, and ``authorize`` refuses that event to anyone else (403), whatever they send.
- ``cart_badge``: the header's cart count; it lists ``added`` in ``listens``, so every
  "Add to cart" on the page updates it (the client runtime delivers the event).
- ``shop_reviews``: what customers say, a **lazy** component
  (``{{ component("shop_reviews", lazy=True) }}``, docs/nesting.md): the page paints with its
  placeholder, then the browser loads it; its ``mount`` is ``async def`` (it waits on a slow
  source, as a real one would call a service).
- ``greeting`` and ``checkout`` (``examples.account``): who is signed in, and a cart that
  also hears ``added`` and whose checkout redirects.

Importing this module registers ``shop_products``, ``shop_item``, ``cart_badge`` and
``shop_reviews`` (``examples.showcase`` does).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any, Final

from component_framework.core import registry
from component_framework.core.access import AccessContext
from component_framework.core.component import Component
from examples.account import user_name

__all__ = [
    "PAGE_SIZE",
    "PRODUCTS",
    "REVIEWS",
    "SESSION_SECRET",
    "SHOP_OWNER",
    "CartBadgeComponent",
    "FeaturedStore",
    "Product",
    "ShopItemComponent",
    "ShopProductsComponent",
    "ShopReviewsComponent",
    "featured",
    "shop_page_context",
]

#: The user who owns the shop: only they may feature a product.
SHOP_OWNER: Final = "ada"
#: Signs the hosts' session cookies: a sign-in lasts as long as the process (a demo; a real
#: app reads its secret from its configuration).
SESSION_SECRET: Final = secrets.token_bytes(32)
PAGE_SIZE: Final = 4
#: Longest search text kept (anything longer is cut: the URL carries it).
MAX_QUERY: Final = 60


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    name: str
    price_cents: int

    @property
    def price(self) -> str:
        return f"{self.price_cents // 100}.{self.price_cents % 100:02d}"


PRODUCTS: Final = tuple(
    Product(number, name, price)
    for number, (name, price) in enumerate(
        [
            ("Red shoes", 5900),
            ("Red hat", 1900),
            ("Blue shoes", 6400),
            ("Green socks", 700),
            ("Red socks", 800),
            ("Blue hat", 2100),
            ("Yellow raincoat", 8900),
            ("Green scarf", 2500),
            ("Red scarf", 2500),
            ("Blue socks", 750),
            ("Black boots", 11900),
            ("White sneakers", 7400),
        ],
        start=1,
    )
)
_BY_ID: Final = {product.id: product for product in PRODUCTS}


class FeaturedStore:
    """The product the owner features, shared by every visitor of this process."""

    def __init__(self) -> None:
        self.product_id: int | None = None


featured = FeaturedStore()


def shop_page_context(request: AccessContext, *, sessions: bool = True) -> dict[str, Any]:
    """What ``shop.html`` reads besides ``request``: the owner's name, whether someone is
    signed in (the sign-in or the sign-out form), and whether the host has sessions at all
    (the standalone host has none: no form)."""
    signed_in = user_name(request) is not None
    return {"owner": SHOP_OWNER, "signed_in": signed_in, "sessions": sessions}


def _is_owner(request: AccessContext) -> bool:
    return user_name(request) == SHOP_OWNER


@registry.register("shop_products")
class ShopProductsComponent(Component):
    """Search and page through the products, each a nested ``shop_item``."""

    template_name = "shop_products.html"
    url_state = ("q", "page")
    url_history = ("page",)
    listens = ("featured",)

    def mount(self) -> None:
        self.state.update({"q": "", "page": 1})

    def on_search(self, q: str = "") -> None:
        self.state.update({"q": q.strip()[:MAX_QUERY], "page": 1})

    def on_page(self, page: int) -> None:
        self.state["page"] = page

    def on_featured(self, product_id: int) -> None:
        """The owner featured a product (emitted by ``shop_item``): the render shows it."""

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        q = str(self.state["q"])[:MAX_QUERY].lower()
        found = [product for product in PRODUCTS if q in product.name.lower()]
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(1, int(self.state["page"])), pages)  # a URL may say ?page=-5 or 999
        start = (page - 1) * PAGE_SIZE
        context.update(
            {
                "products": found[start : start + PAGE_SIZE],
                "found": len(found),
                "page": page,
                "pages": pages,
                "featured": _BY_ID.get(featured.product_id or 0),
            }
        )
        return context


@registry.register("shop_item")
class ShopItemComponent(Component):
    """One product: add it to the cart; the owner may feature it."""

    template_name = "shop_item.html"

    def mount(self, product_id: int) -> None:
        self.state.update({"product_id": product_id, "added": 0})

    def on_add(self) -> None:
        self.state["added"] += 1
        self.emit("added", product_id=self.state["product_id"], qty=1)

    def on_feature(self) -> None:
        if self.state["product_id"] in _BY_ID:
            featured.product_id = self.state["product_id"]
            self.emit("featured", product_id=self.state["product_id"])

    def authorize(self, context: AccessContext, event: str) -> bool:
        return event != "feature" or _is_owner(context)

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        context["product"] = _BY_ID.get(self.state["product_id"])
        context["owner"] = _is_owner(self.request)
        return context


@registry.register("cart_badge")
class CartBadgeComponent(Component):
    """How many things are in the cart: it hears every ``added`` of the page."""

    template_name = "cart_badge.html"
    listens = ("added",)

    def mount(self) -> None:
        self.state["count"] = 0

    def on_added(self, product_id: int, qty: int = 1) -> None:
        self.state["count"] += max(0, qty)


#: What customers said (a real shop reads them from a slower service).
REVIEWS: Final = (
    ("Grace", "The yellow raincoat kept me dry all week."),
    ("Linus", "Blue socks, as advertised."),
    ("Margaret", "Quick checkout, and the badge counted right."),
)
#: How long the reviews "service" takes: long enough to see the placeholder.
REVIEWS_DELAY: Final = 0.3


@registry.register("shop_reviews")
class ShopReviewsComponent(Component):
    """Customer reviews, loaded after the page has painted (``lazy=True`` in the page)."""

    template_name = "shop_reviews.html"

    @classmethod
    def placeholder(cls) -> str:
        return '<p class="reviews-loading" aria-busy="true">Loading what customers say…</p>'

    async def mount(self) -> None:
        await asyncio.sleep(REVIEWS_DELAY)
        self.state["reviews"] = [list(review) for review in REVIEWS]
