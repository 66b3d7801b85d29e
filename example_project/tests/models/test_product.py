"""product-model: no markers here; the plan selects this file with `tests:`."""

from __future__ import annotations

import pytest

from shop.contracts import PRICING
from shop.contracts import OutOfStock
from shop.contracts import ValidationError
from shop.models._money import parse_price
from shop.models.product import Product


def test_price_is_parsed_to_integer_cents() -> None:
    assert [parse_price(t) for t in ("8.5", "19.99", "0", " 1.05")] == [850, 1999, 0, 105]


@pytest.mark.parametrize("text", ["-1", "1.999", "1e3"])
def test_bad_price_is_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_price(text)


def test_reserve_and_restock() -> None:
    mug = Product.from_price("mug-01", "Mug", "8.50", stock=2)
    assert (mug.sku, mug.display_price) == ("MUG-01", "8.50 EUR")
    mug.reserve(2)
    with pytest.raises(OutOfStock):
        mug.reserve(1)
    mug.restock(3)
    assert mug.stock == 3


def test_sale_price_rounds_half_up() -> None:
    pen = Product("PEN", "Pen", price_cents=105)
    assert pen.sale_price_cents(10) == 94  # 10.5 cents off rounds to 11


def test_clearance_allows_deep_discounts() -> None:
    # DELIBERATE DEFECT (hidden ordering dependency, see delegation.yaml and README):
    # this test raises the shop-wide discount cap and never restores it (it should
    # use monkeypatch.setattr(PRICING, "max_discount_percent", 90)). It passes, but
    # every later test in the same interpreter sees a 90% cap.
    # tests/models/test_order.py::TestDiscounts::test_discount_above_the_cap_is_refused
    # (task order-model, same wave) fails whenever this runs first: reversed order,
    # a shuffle, or a plain `pytest` under pytest-randomly with some seeds.
    # Plain file order and wave order run order-model first, so they stay green.
    PRICING.max_discount_percent = 90
    lamp = Product.from_price("LAMP", "Lamp", "40.00", stock=1)
    assert lamp.sale_price_cents(90) == 400


def test_label_names_the_seller() -> None:
    # DELIBERATE DEFECT (boundary violation, see delegation.yaml and README):
    # product-model does not depend on user-model (both are wave 1), yet this test
    # builds a real User, so it runs code of shop/models/user.py, a file owned by
    # another task that may not exist yet. The boundaries check reports
    # `boundary-violation`; the fix is the StubUser fixture `customer` from conftest.
    from shop.models.user import User

    seller = User(id=3, email="Grace@Example.com", name="Grace")
    mug = Product("MUG-01", "Mug", 850, seller=seller)
    assert mug.label() == "Mug (MUG-01) 8.50 EUR, sold by grace@example.com"
