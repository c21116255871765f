"""Passwords: which we accept (`check_new`), hashing with argon2id (argon2-cffi's
defaults; clear text is never stored) and checking.

A new password must be long enough and hard to guess: zxcvbn (Dropbox's estimator, with
its lists of common passwords, words, names, keyboard patterns and sequences, and the
user's own details) must rate it at least MIN_SCORE of 4."""
from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from .validation import N_, Invalid

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; a limit keeps a megabyte "password" out
MIN_SCORE = 3  # zxcvbn: 3 "safely unguessable" (about 10^8 guesses or more), 4 "very unguessable"

_hasher = PasswordHasher()  # argon2id

# A hash to verify against when there is no user, so a wrong address takes as long as a
# wrong password and timing tells nothing.
_DUMMY = _hasher.hash("no such user: an unguessable placeholder")


def check_new(password: str, *, email: str = "", personal: tuple[str, ...] = ()) -> str:
    """A password we accept to store, or `Invalid` saying why not. `email` and `personal`
    (names, company) count as easy to guess."""
    if len(password) < MIN_LENGTH:
        raise Invalid(N_("The password must have at least 10 characters."))
    if len(password) > MAX_LENGTH:
        raise Invalid(N_("The password may have at most 200 characters."))
    if email and password.strip().lower() == email.strip().lower():
        raise Invalid(N_("The password must not be your email address."))
    if strength(password, (email, *re.split(r"[\W_]+", email), *personal)) < MIN_SCORE:
        raise Invalid(N_("This password is too easy to guess: it is a common password, or made of words, names, "
                         "dates, sequences or keyboard patterns, or of your own details. Choose a longer one, e.g. "
                         "four unrelated words."))
    return password


def strength(password: str, user_inputs=()) -> int:
    """zxcvbn's score, 0 (too guessable) to 4 (very unguessable)."""
    return zxcvbn(password, user_inputs=[i for i in user_inputs if i])["score"]


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
