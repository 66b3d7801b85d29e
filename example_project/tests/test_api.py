"""api: tagged test by test with function markers."""

from __future__ import annotations

import pytest

from shop.api import Shop
from shop.contracts import NotFound
from shop.contracts import OutOfStock
from shop.contracts import ValidationError


@pytest.mark.task("api")
def test_create_user_refuses_a_taken_email(shop: Shop) -> None:
    ada = shop.create_user("ada@example.com", "Ada", "correct horse")
    assert shop.find_user(" ADA@example.com") is ada
    with pytest.raises(ValidationError, match="already registered"):
        shop.create_user("Ada@Example.com", "Ada 2", "another password")


@pytest.mark.task("api")
def test_add_product_refuses_a_duplicate_sku(shop: Shop) -> None:
    shop.add_product("MUG-01", "Mug", "8.50")
    with pytest.raises(ValidationError, match="already exists"):
        shop.add_product("mug-01", "Other mug", "9.00")
    assert shop.product("mug-01").price_cents == 850


@pytest.mark.task("api")
def test_place_order_reserves_stock(stocked_shop: Shop) -> None:
    order = stocked_shop.place_order(1, {"MUG-01": 2, "pen": 10}, discount_percent=10)
    assert order.total_cents == 2475  # 2 x 8.50 + 10 x 1.05 = 27.50, minus 10%
    assert stocked_shop.product("MUG-01").stock == 3
    assert stocked_shop.revenue_cents() == order.total_cents


@pytest.mark.task("api")
def test_failed_order_changes_nothing(stocked_shop: Shop) -> None:
    with pytest.raises(OutOfStock):
        stocked_shop.place_order(1, {"MUG-01": 1, "TEE-M": 3})
    with pytest.raises(NotFound):
        stocked_shop.place_order(1, {"NOPE": 1})
    assert stocked_shop.product("MUG-01").stock == 5
    assert stocked_shop.orders == {}


@pytest.mark.task("api")
def test_cancel_order_restocks(stocked_shop: Shop) -> None:
    order = stocked_shop.place_order(1, {"TEE-M": 2})
    stocked_shop.cancel_order(order.id)
    assert stocked_shop.product("TEE-M").stock == 2
    assert stocked_shop.revenue_cents() == 0
    with pytest.raises(NotFound):
        stocked_shop.cancel_order(99)
