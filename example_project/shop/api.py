"""The shop's API over an in-memory store (standing in for the database).

A walk-through with examples is docs/guide.md.
"""

from __future__ import annotations

from collections.abc import Mapping
import itertools

from shop.contracts import NotFound
from shop.contracts import ValidationError
from shop.models.order import PLACED
from shop.models.order import Order
from shop.models.product import Product
from shop.models.user import User
from shop.models.user import normalise_email


class Shop:
    """Users, products and orders; every id comes from the shop."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.products: dict[str, Product] = {}
        self.orders: dict[int, Order] = {}
        self._user_ids = itertools.count(1)
        self._order_ids = itertools.count(1)

    # -- users ------------------------------------------------------------------

    def create_user(self, email: str, name: str, password: str) -> User:
        address = normalise_email(email)
        if any(user.email == address for user in self.users.values()):
            raise ValidationError(f"{address} is already registered")
        user = User.register(next(self._user_ids), address, name, password)
        self.users[user.id] = user
        return user

    def find_user(self, email: str) -> User:
        address = normalise_email(email)
        for user in self.users.values():
            if user.email == address:
                return user
        raise NotFound(f"no user {address}")

    def login(self, email: str, password: str) -> User | None:
        """The user if the password matches; None otherwise (same answer for an unknown email)."""
        try:
            user = self.find_user(email)
        except (NotFound, ValidationError):
            return None
        return user if user.active and user.check_password(password) else None

    def deactivate_user(self, user_id: int) -> User:
        user = self.users[user_id] = self._user(user_id).deactivate()
        return user

    # -- products ---------------------------------------------------------------

    def add_product(self, sku: str, name: str, price: str, stock: int = 0) -> Product:
        product = Product.from_price(sku, name, price, stock)
        if product.sku in self.products:
            raise ValidationError(f"{product.sku} already exists")
        self.products[product.sku] = product
        return product

    def product(self, sku: str) -> Product:
        try:
            return self.products[sku.strip().upper()]
        except KeyError:
            raise NotFound(f"no product {sku!r}") from None

    # -- orders -----------------------------------------------------------------

    def place_order(
        self, user_id: int, items: Mapping[str, int], discount_percent: int = 0
    ) -> Order:
        """Create and place an order in one step: all of it, or nothing."""
        order = Order(id=next(self._order_ids), customer=self._user(user_id))
        for sku, quantity in items.items():
            order.add(self.product(sku), quantity)
        if discount_percent:
            order.apply_discount(discount_percent)
        order.place()
        self.orders[order.id] = order
        return order

    def cancel_order(self, order_id: int) -> Order:
        try:
            order = self.orders[order_id]
        except KeyError:
            raise NotFound(f"no order {order_id}") from None
        order.cancel()
        return order

    def revenue_cents(self) -> int:
        return sum(o.total_cents for o in self.orders.values() if o.status == PLACED)

    def _user(self, user_id: int) -> User:
        try:
            return self.users[user_id]
        except KeyError:
            raise NotFound(f"no user {user_id}") from None
