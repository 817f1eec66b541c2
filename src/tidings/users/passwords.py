"""Password hashing with scrypt (memory-hard, in the standard library), pure.

Parameters: N = 2**15, r = 8, p = 3. Each hash needs 128 * r * N = 32 MiB of
memory, so guessing on graphics cards or in parallel costs memory as well as
time, and it is one of the equal-strength scrypt settings OWASP's password
storage guide lists (beside N = 2**17, p = 1, which needs 128 MiB per login:
too much for a small server taking several logins at once). One hash takes
about 0.2 s of one core here; callers run it off the event loop.

A hash is stored as `scrypt$<log2 N>$<r>$<p>$<salt>$<key>` (base64), so the
parameters can be raised later without breaking stored hashes
(`needs_rehash`). Comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LOG2_N = 15
R = 8
P = 3
SALT_BYTES = 16
KEY_BYTES = 32
MIN_LENGTH = 12  # a password chosen by a person (the generated ones are longer)
MAX_LENGTH = 1024  # bounded: the work of a hash grows with what it reads
_MAXMEM = 64 * 1024 * 1024  # above 128 * R * N, which OpenSSL's default refuses


def hash_password(password: str, *, log2_n: int = LOG2_N, r: int = R, p: int = P) -> str:
    """A new salted hash of `password`, in the stored form."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _derive(password, salt, log2_n, r, p)
    return f"scrypt${log2_n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash; False for a malformed one."""
    parsed = _parse(stored)
    if parsed is None or len(password) > MAX_LENGTH:
        return False
    log2_n, r, p, salt, key = parsed
    return hmac.compare_digest(_derive(password, salt, log2_n, r, p), key)


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    parsed = _parse(stored)
    return parsed is None or parsed[:3] != (LOG2_N, R, P)


def generate_password() -> str:
    """A random password to show once: 20 URL-safe characters, about 120 bits."""
    return secrets.token_urlsafe(15)


def check_new_password(password: str) -> str | None:
    """Why a chosen password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password may have at most {MAX_LENGTH} characters"
    return None


# Verified when the email is unknown, so that a login for a missing user takes as
# long as one for a real user with a wrong password (no user enumeration by timing).
DUMMY_HASH = "scrypt$15$8$3$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=2**log2_n, r=r, p=p, maxmem=_MAXMEM, dklen=KEY_BYTES
    )


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:4]):
        return None
    log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    if not (1 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 16):
        return None
    try:
        return log2_n, r, p, _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
