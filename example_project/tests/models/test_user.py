"""user-model: tagged for the whole module with `pytestmark`."""

from __future__ import annotations

import pytest

from shop.contracts import UserLike
from shop.contracts import ValidationError
from shop.models.user import User
from shop.models.user import normalise_email


pytestmark = pytest.mark.task("user-model")


def test_email_is_normalised() -> None:
    user = User(id=1, email="  Ada.Lovelace@Example.COM ", name=" Ada ")
    assert (user.email, user.name) == ("ada.lovelace@example.com", "Ada")
    assert isinstance(user, UserLike)


@pytest.mark.parametrize(
    "email",
    ["ada", "ada@@example.com", "a..b@example.com"],
)
def test_invalid_email_is_refused(email: str) -> None:
    with pytest.raises(ValidationError):
        normalise_email(email)


def test_password_is_checked_against_its_hash() -> None:
    user = User.register(1, "ada@example.com", "Ada", "correct horse")
    assert user.check_password("correct horse")
    assert not user.check_password("Correct horse")


def test_short_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        User.register(1, "ada@example.com", "Ada", "short")


def test_deactivate_returns_a_new_user() -> None:
    user = User(id=7, email="bob@example.com", name="Bob")
    gone = user.deactivate()
    assert user.active and not gone.active
    assert gone == User(id=7, email="BOB@example.com", name="Bob", active=False)
