"""The User model: normalised email, validated name, salted password hash."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
import hashlib
import hmac
import os
import re

from shop.contracts import ValidationError


_EMAIL = re.compile(r"^[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ITERATIONS = 50_000
MIN_PASSWORD = 8


def normalise_email(raw: str) -> str:
    """' Ada@Example.COM ' -> 'ada@example.com'; ValidationError if it is no address."""
    if not isinstance(raw, str):
        raise ValidationError(f"an email is text, not {type(raw).__name__}")
    email = raw.strip().lower()
    if len(email) > 254 or _CONTROL.search(email) or not _EMAIL.match(email):
        raise ValidationError(f"not an email address: {raw!r}")
    local = email.partition("@")[0]
    if local.startswith(".") or local.endswith(".") or ".." in email:
        raise ValidationError(f"not an email address: {raw!r}")
    return email


def hash_password(password: str, salt: bytes | None = None) -> str:
    """'pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>' with a fresh random salt."""
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD} characters")
    salt = os.urandom(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    name: str
    # never shown: not in repr, not compared
    password_hash: str = field(default="", repr=False, compare=False)
    active: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id < 1:
            raise ValidationError(f"a user id is a positive integer, not {self.id!r}")
        object.__setattr__(self, "email", normalise_email(self.email))
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name or len(name) > 100 or _CONTROL.search(name):
            raise ValidationError(f"a name is 1 to 100 printable characters, not {self.name!r}")
        object.__setattr__(self, "name", name)

    @classmethod
    def register(cls, id: int, email: str, name: str, password: str) -> User:
        return cls(id=id, email=email, name=name, password_hash=hash_password(password))

    def check_password(self, password: str) -> bool:
        try:
            scheme, iterations, salt, expected = self.password_hash.split("$")
        except ValueError:
            return False
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), bytes.fromhex(salt), int(iterations)
        )
        return hmac.compare_digest(digest.hex(), expected)

    def deactivate(self) -> User:
        return replace(self, active=False)
