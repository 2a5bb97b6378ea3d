"""RFC 6238 TOTP codes for the tests (what an admin's authenticator app computes from the enrolment URL).

The toolkit itself never computes codes: the server generates the key and checks the code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time
from urllib.parse import parse_qs, urlparse


def secret_of(url: str) -> str:
    """The base32 key of an ``otpauth://totp/...?secret=...`` URL."""
    return parse_qs(urlparse(url).query)["secret"][0]


def code(secret: str, at: float | None = None, *, period: int = 30, digits: int = 6) -> str:
    """The HMAC-SHA1 TOTP code of ``secret`` (base32) for the period holding ``at`` (default: now)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // period)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def wrong_code(secret: str, at: float | None = None) -> str:
    """A 6-digit code the server cannot accept now (not the code of any period within two of ``at``)."""
    now = time.time() if at is None else at
    taken = {code(secret, now + shift * 30) for shift in range(-2, 3)}
    return next(c for c in (f"{n:06d}" for n in range(1000, 10**6)) if c not in taken)
