"""The Product model: SKU, price in integer cents, stock that never goes negative."""

from __future__ import annotations

from dataclasses import dataclass
import re

from shop.contracts import OutOfStock
from shop.contracts import UserLike
from shop.contracts import ValidationError
from shop.models._money import check_discount
from shop.models._money import format_cents
from shop.models._money import parse_price
from shop.models._money import percent_of


_SKU = re.compile(r"^[A-Z0-9]{2,12}(?:-[A-Z0-9]{1,12})*$")


def _count(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{what} must be a whole number >= {minimum}, not {value!r}")
    return value


@dataclass
class Product:
    sku: str
    name: str
    price_cents: int
    stock: int = 0
    seller: UserLike | None = None  # the contract, not shop.models.user: written in parallel

    def __post_init__(self) -> None:
        sku = self.sku.strip().upper() if isinstance(self.sku, str) else ""
        if not _SKU.match(sku):
            raise ValidationError(f"not a SKU: {self.sku!r} (like 'MUG-01')")
        self.sku = sku
        self.name = self.name.strip() if isinstance(self.name, str) else ""
        if not self.name:
            raise ValidationError("a product needs a name")
        _count(self.price_cents, "price_cents", 0)
        _count(self.stock, "stock", 0)

    @classmethod
    def from_price(cls, sku: str, name: str, price: str, stock: int = 0) -> Product:
        return cls(sku=sku, name=name, price_cents=parse_price(price), stock=stock)

    def reserve(self, quantity: int) -> None:
        _count(quantity, "quantity", 1)
        if quantity > self.stock:
            raise OutOfStock(f"{self.sku}: {quantity} asked, {self.stock} in stock")
        self.stock -= quantity

    def restock(self, quantity: int) -> None:
        self.stock += _count(quantity, "quantity", 1)

    def sale_price_cents(self, percent: int) -> int:
        return self.price_cents - percent_of(self.price_cents, check_discount(percent))

    @property
    def display_price(self) -> str:
        return format_cents(self.price_cents)

    def label(self) -> str:
        text = f"{self.name} ({self.sku}) {self.display_price}"
        if self.seller is not None:
            text += f", sold by {self.seller.email}"
        return text
