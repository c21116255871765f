"""Password hashing with argon2id (argon2-cffi's defaults); clear text is never stored."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .validation import N_, Invalid

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; a limit keeps a megabyte "password" out

_hasher = PasswordHasher()  # argon2id

# A hash to verify against when there is no user, so a wrong address takes as long as a
# wrong password and timing tells nothing.
_DUMMY = _hasher.hash("no such user: an unguessable placeholder")


def check_new(password: str, *, email: str = "") -> str:
    """A password we accept to store, or `Invalid` saying why not."""
    if len(password) < MIN_LENGTH:
        raise Invalid(N_("The password must have at least 10 characters."))
    if len(password) > MAX_LENGTH:
        raise Invalid(N_("The password may have at most 200 characters."))
    if email and password.strip().lower() == email.strip().lower():
        raise Invalid(N_("The password must not be your email address."))
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether the password matches; with no stored hash, spends the same time and says no."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when argon2's parameters have moved on since the hash was made."""
    return _hasher.check_needs_rehash(stored)
