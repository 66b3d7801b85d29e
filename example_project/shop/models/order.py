"""The Order model: lines, totals, discount, and all-or-nothing stock reservation.

Uses only shop.contracts (UserLike, ProductLike), never user.py or product.py:
that is what let it be written in the same wave as them.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from shop.contracts import OutOfStock
from shop.contracts import ProductLike
from shop.contracts import UserLike
from shop.contracts import ValidationError
from shop.models._money import check_discount
from shop.models._money import format_cents
from shop.models._money import percent_of


OPEN, PLACED, CANCELLED = "open", "placed", "cancelled"


@dataclass
class OrderLine:
    product: ProductLike
    unit_price_cents: int  # frozen when added: a later price change does not touch the order
    quantity: int

    @property
    def subtotal_cents(self) -> int:
        return self.unit_price_cents * self.quantity


@dataclass
class Order:
    id: int
    customer: UserLike
    lines: list[OrderLine] = field(default_factory=list)
    discount_percent: int = 0
    status: str = OPEN

    def __post_init__(self) -> None:
        if not self.customer.active:
            raise ValidationError(f"user {self.customer.id} is deactivated and cannot order")

    def add(self, product: ProductLike, quantity: int = 1) -> OrderLine:
        self._require(OPEN)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationError(f"a quantity is a whole number >= 1, not {quantity!r}")
        line = self.line_for(product.sku)
        wanted = quantity + (line.quantity if line else 0)
        if wanted > product.stock:
            raise OutOfStock(f"{product.sku}: {wanted} wanted, {product.stock} in stock")
        if line is None:
            line = OrderLine(product, product.price_cents, quantity)
            self.lines.append(line)
        else:
            line.quantity = wanted
        return line

    def line_for(self, sku: str) -> OrderLine | None:
        return next((line for line in self.lines if line.product.sku == sku), None)

    def apply_discount(self, percent: int) -> None:
        self._require(OPEN)
        self.discount_percent = check_discount(percent)

    @property
    def subtotal_cents(self) -> int:
        return sum(line.subtotal_cents for line in self.lines)

    @property
    def discount_cents(self) -> int:
        return percent_of(self.subtotal_cents, self.discount_percent)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents - self.discount_cents

    def place(self) -> None:
        """Reserve every line's stock, or none of it."""
        self._require(OPEN)
        if not self.lines:
            raise ValidationError("an empty order cannot be placed")
        short = [line for line in self.lines if line.quantity > line.product.stock]
        if short:
            names = ", ".join(line.product.sku for line in short)
            raise OutOfStock(f"not enough stock for {names}")
        for line in self.lines:
            line.product.reserve(line.quantity)
        self.status = PLACED

    def cancel(self) -> None:
        """Cancel an open or placed order; a placed one gives its stock back."""
        if self.status == CANCELLED:
            raise ValidationError(f"order {self.id} is already cancelled")
        if self.status == PLACED:
            for line in self.lines:
                line.product.restock(line.quantity)
        self.status = CANCELLED

    def summary(self) -> str:
        text = f"order {self.id}: {len(self.lines)} lines, {format_cents(self.total_cents)}"
        return text + (f" ({self.discount_percent}% off)" if self.discount_percent else "")

    def _require(self, status: str) -> None:
        if self.status != status:
            raise ValidationError(f"order {self.id} is {self.status}, not {status}")
