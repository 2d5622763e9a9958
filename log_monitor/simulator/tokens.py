"""The Wazuh API's JWTs: signed (HS256) with its claims, and checked as the API checks them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable

ISSUER = "wazuh"
AUDIENCE = "Wazuh API REST"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, user: str, now: float, ttl_s: float) -> str:
    """A signed JWT shaped like the real API's (HS256, its claims, exp = now + ttl_s)."""
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "nbf": int(now),
        "exp": int(now + ttl_s),
        "sub": user,
        "run_as": False,
        "rbac_roles": [1],
        "rbac_mode": "white",
    }
    signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(payload).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def subject(key: bytes, token: str, now: Callable[[], float]) -> str | None:
    """The token's user, or None when its signature, audience or validity period is wrong."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
            return None
        payload = json.loads(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("aud") != AUDIENCE or payload.get("iss") != ISSUER:
        return None
    moment = now()
    exp, nbf = payload.get("exp"), payload.get("nbf")
    if not isinstance(exp, int) or not isinstance(nbf, int) or moment >= exp or moment < nbf:
        return None
    user = payload.get("sub")
    return user if isinstance(user, str) else None
