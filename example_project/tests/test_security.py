"""security: inputs are validated at the door and secrets stay secret."""

from __future__ import annotations

import pytest

from shop.api import Shop
from shop.contracts import ValidationError


pytestmark = pytest.mark.task("security")


def test_repr_shows_no_password_hash(shop: Shop) -> None:
    user = shop.create_user("ada@example.com", "Ada", "correct horse")
    assert "pbkdf2" not in repr(user) and "correct horse" not in repr(user)
    assert user.password_hash.startswith("pbkdf2_sha256$")


def test_same_password_gives_different_hashes(shop: Shop) -> None:
    a = shop.create_user("a@example.com", "A", "same password")
    b = shop.create_user("b@example.com", "B", "same password")
    assert a.password_hash != b.password_hash  # salted


def test_injection_in_email_is_refused(shop: Shop) -> None:
    for email in ("ada@example.com\r\nBcc: all@example.com", "<script>@x.com", "a@b.c\x00"):
        with pytest.raises(ValidationError):
            shop.create_user(email, "Mallory", "long enough")
    assert shop.users == {}


def test_login_does_not_tell_unknown_email_from_wrong_password(shop: Shop) -> None:
    shop.create_user("ada@example.com", "Ada", "correct horse")
    assert shop.login("ada@example.com", "correct horse") is not None
    assert shop.login("ada@example.com", "wrong") is None
    assert shop.login("nobody@example.com", "correct horse") is None
    assert shop.login("not an email", "x") is None


def test_deactivated_user_can_neither_log_in_nor_order(stocked_shop: Shop) -> None:
    stocked_shop.deactivate_user(1)
    assert stocked_shop.login("ada@example.com", "correct horse battery") is None
    with pytest.raises(ValidationError, match="deactivated"):
        stocked_shop.place_order(1, {"PEN": 1})
