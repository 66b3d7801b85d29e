"""order-model: tagged per class. Uses only the stubs from conftest, never the other models."""

from __future__ import annotations

import pytest

from shop.contracts import DiscountError
from shop.contracts import OutOfStock
from shop.contracts import ValidationError
from shop.models.order import CANCELLED
from shop.models.order import PLACED
from shop.models.order import Order


@pytest.mark.task("order-model")
class TestTotals:
    def test_lines_of_one_product_merge(self, customer, products) -> None:
        order = Order(1, customer)
        order.add(products["MUG"], 2)
        order.add(products["MUG"])
        assert [(line.product.sku, line.quantity) for line in order.lines] == [("MUG", 3)]
        assert order.total_cents == 2550

    def test_price_is_frozen_when_added(self, customer, products) -> None:
        order = Order(1, customer)
        order.add(products["MUG"])
        products["MUG"].price_cents = 999
        assert order.subtotal_cents == 850

    def test_summary(self, customer, products) -> None:
        order = Order(4, customer)
        order.add(products["MUG"], 2)
        order.add(products["PEN"])
        order.apply_discount(10)
        assert order.summary() == "order 4: 2 lines, 16.24 EUR (10% off)"


@pytest.mark.task("order-model")
class TestDiscounts:
    def test_discount_rounds_half_up(self, customer, products) -> None:
        order = Order(1, customer)
        order.add(products["PEN"])
        order.apply_discount(10)
        assert (order.discount_cents, order.total_cents) == (11, 94)

    def test_discount_above_the_cap_is_refused(self, customer, products) -> None:
        # The VICTIM of the deliberate ordering defect: it assumes the default 50%
        # cap of shop.contracts.PRICING. It passes alone and in file/wave order, and
        # fails after tests/models/test_product.py::test_clearance_allows_deep_discounts
        # (task product-model), which raises the cap to 90% and never restores it.
        order = Order(1, customer)
        order.add(products["MUG"])
        with pytest.raises(DiscountError, match="between 0% and 50%"):
            order.apply_discount(60)


@pytest.mark.task("order-model")
class TestPlacing:
    def test_place_reserves_all_or_nothing(self, customer, products) -> None:
        order = Order(1, customer)
        order.add(products["MUG"], 2)
        order.add(products["PEN"])
        products["PEN"].stock = 0  # sold elsewhere since it was added
        with pytest.raises(OutOfStock, match="PEN"):
            order.place()
        assert products["MUG"].stock == 5  # nothing reserved

    def test_place_then_cancel_gives_stock_back(self, customer, products) -> None:
        order = Order(1, customer)
        order.add(products["MUG"], 2)
        order.place()
        assert (order.status, products["MUG"].stock) == (PLACED, 3)
        order.cancel()
        assert (order.status, products["MUG"].stock) == (CANCELLED, 5)
        with pytest.raises(ValidationError):
            order.add(products["MUG"])

    def test_deactivated_customer_cannot_order(self, customer) -> None:
        customer.active = False
        with pytest.raises(ValidationError, match="deactivated"):
            Order(1, customer)
