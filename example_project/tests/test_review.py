"""review (code-reviewer): invariants across the whole API, after the code is written.

No markers: the plan selects this file with the glob `tests/test_review*.py`.
"""

from __future__ import annotations

import itertools

import pytest

from shop.api import Shop
from shop.contracts import ShopError
from shop.models.order import PLACED


def test_stock_is_conserved_across_orders_and_cancels(stocked_shop: Shop) -> None:
    # every unit is either in stock or in a placed order, whatever succeeds or fails
    start = {sku: p.stock for sku, p in stocked_shop.products.items()}
    baskets = itertools.cycle([{"MUG-01": 2}, {"TEE-M": 1, "PEN": 30}, {"MUG-01": 4}, {"PEN": 80}])
    for n, basket in enumerate(itertools.islice(baskets, 12)):
        try:
            order = stocked_shop.place_order(1, basket)
        except ShopError:
            continue
        if n % 3 == 0:
            stocked_shop.cancel_order(order.id)
    for sku, product in stocked_shop.products.items():
        sold = sum(
            line.quantity
            for order in stocked_shop.orders.values()
            if order.status == PLACED
            for line in order.lines
            if line.product.sku == sku
        )
        assert product.stock + sold == start[sku] and product.stock >= 0


def test_totals_are_never_negative_and_never_exceed_subtotal(stocked_shop: Shop) -> None:
    for percent in (0, 1, 33, 50):
        order = stocked_shop.place_order(1, {"PEN": 1}, discount_percent=percent)
        assert 0 <= order.total_cents <= order.subtotal_cents
        assert order.discount_cents + order.total_cents == order.subtotal_cents


def test_ids_are_unique(shop: Shop) -> None:
    users = [shop.create_user(f"u{n}@example.com", f"User {n}", "long enough") for n in range(3)]
    assert len({u.id for u in users}) == 3
    shop.add_product("PEN", "Pen", "1.00", stock=10)
    orders = [shop.place_order(users[0].id, {"PEN": 1}) for _ in range(3)]
    assert len({o.id for o in orders}) == 3


def test_review_runs_after_the_code_it_reviews(delegation_plan, delegation_task) -> None:
    # the plugin's fixtures: this task and the plan it belongs to
    assert delegation_task.id == "review"
    writers = [t for t in delegation_plan.tasks.values() if t.role == "code-writer"]
    assert all(delegation_plan.wave_of(t.id) < delegation_plan.wave_of("review") for t in writers)


def test_bad_quantities_are_refused(stocked_shop: Shop) -> None:
    for bad in (0, -1, True):
        with pytest.raises(ShopError):
            stocked_shop.place_order(1, {"MUG-01": bad})
    assert stocked_shop.product("MUG-01").stock == 5
