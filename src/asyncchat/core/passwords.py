"""Password hashing: argon2id, slow on purpose, so it never runs on the event loop.

The parameters are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane),
about 30 ms on one core; they are written into every hash, so raising them
later still verifies the old ones. argon2-cffi releases the GIL while it
hashes: the edge runs these in worker threads and the loop keeps serving.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 8
"""Shortest password accepted, in characters."""
MAX_PASSWORD = 200
"""Longest: a megabyte-long password would cost only hashing time, for nothing."""

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    """A salted argon2id hash in its standard encoding ($argon2id$v=19$m=…)."""
    return _HASHER.hash(password)


def verify_password(secret: str, password: str) -> bool:
    """True if `password` matches the stored hash; a damaged hash matches nothing."""
    try:
        return _HASHER.verify(secret, password)
    except (VerificationError, InvalidHashError, ValueError):  # ValueError: not ASCII
        return False


def password_problem(password: str) -> str | None:
    """Why a new password cannot be used, or None."""
    if any(char.isspace() for char in password):
        return "a password is one word: it cannot contain spaces"
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password may have at most {MAX_PASSWORD} characters"
    return None
