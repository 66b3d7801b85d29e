"""Fixtures every task's tests may use (listed under `shared:` in delegation.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shop.api import Shop


@dataclass
class StubUser:
    """Satisfies shop.contracts.UserLike without importing shop.models.user.

    Tests of a task that does not depend on user-model use this, so they never run
    code of a file that task does not own.
    """

    id: int = 1
    email: str = "stub@example.com"
    active: bool = True


@dataclass
class StubProduct:
    """Satisfies shop.contracts.ProductLike without importing shop.models.product."""

    sku: str
    price_cents: int
    stock: int = 10
    name: str = "Stub"

    def reserve(self, quantity: int) -> None:
        from shop.contracts import OutOfStock

        if quantity > self.stock:
            raise OutOfStock(self.sku)
        self.stock -= quantity

    def restock(self, quantity: int) -> None:
        self.stock += quantity


@pytest.fixture
def customer() -> StubUser:
    return StubUser()


@pytest.fixture
def shop() -> Shop:
    """A fresh, empty store for each test."""
    return Shop()


@pytest.fixture
def stocked_shop(shop: Shop) -> Shop:
    """A store with one customer and three products."""
    shop.create_user("ada@example.com", "Ada", "correct horse battery")
    shop.add_product("MUG-01", "Mug", "8.50", stock=5)
    shop.add_product("TEE-M", "T-shirt", "19.99", stock=2)
    shop.add_product("PEN", "Pen", "1.05", stock=100)
    return shop


@pytest.fixture
def products() -> dict[str, StubProduct]:
    """Two stub products for order tests: a mug (5 in stock) and a pen (1 in stock)."""
    return {
        "MUG": StubProduct("MUG", price_cents=850, stock=5),
        "PEN": StubProduct("PEN", price_cents=105, stock=1),
    }
