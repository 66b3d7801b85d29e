"""Money as integer cents: no floats, no Decimal.

Claimed by two tasks of wave 1 (product-model and order-model): see the
file-conflict comment in delegation.yaml.
"""

from __future__ import annotations

import re

from shop.contracts import PRICING
from shop.contracts import DiscountError
from shop.contracts import ValidationError


_PRICE = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")


def parse_price(text: str) -> int:
    """'12.5' -> 1250 cents; refuses signs, exponents and a third decimal."""
    match = _PRICE.match(text.strip())
    if match is None:
        raise ValidationError(f"not a price: {text!r} (use digits and up to 2 decimals)")
    units, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(units) * 100 + int(fraction)


def format_cents(cents: int, currency: str | None = None) -> str:
    """1250 -> '12.50 EUR'."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d} {currency or PRICING.currency}"


def percent_of(cents: int, percent: int) -> int:
    """`percent`% of `cents`, rounded half up, in integer math."""
    return (cents * percent + 50) // 100


def check_discount(percent: int) -> int:
    """The percent if the pricing policy allows it, else DiscountError."""
    if isinstance(percent, bool) or not isinstance(percent, int):
        raise DiscountError(f"a discount is a whole percent, not {percent!r}")
    cap = PRICING.max_discount_percent
    if not 0 <= percent <= cap:
        raise DiscountError(f"a discount must be between 0% and {cap}%, not {percent}%")
    return percent
