"""The shop's contracts: agreed before the work was split, shared by every task.

Each model task codes against these protocols and errors, never against another
task's module, so the three models can be written at the same time (wave 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from typing import runtime_checkable


class ShopError(Exception):
    """Base of every error the shop raises on purpose."""


class ValidationError(ShopError, ValueError):
    """An input the shop refuses: bad email, negative price, unknown SKU, ..."""


class OutOfStock(ShopError):
    """Fewer items in stock than asked for."""


class DiscountError(ShopError):
    """A discount the pricing policy does not allow."""


class NotFound(ShopError, LookupError):
    """No user, product or order with that key."""


@runtime_checkable
class UserLike(Protocol):
    """What an order or a product needs to know about a user."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...

    @property
    def active(self) -> bool: ...


@runtime_checkable
class ProductLike(Protocol):
    """What an order needs of a product: its price in cents and its stock."""

    @property
    def sku(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def price_cents(self) -> int: ...

    @property
    def stock(self) -> int: ...

    def reserve(self, quantity: int) -> None:
        """Take `quantity` items out of stock, or raise OutOfStock."""

    def restock(self, quantity: int) -> None:
        """Put `quantity` items back into stock."""


@dataclass
class PricingPolicy:
    """Shop-wide pricing rules. Mutable on purpose (an admin can change them)."""

    currency: str = "EUR"
    max_discount_percent: int = 50


# The one policy of the running shop. Code reads it at call time; a test that
# changes it must restore it (use monkeypatch.setattr).
PRICING = PricingPolicy()
