"""Who signs in to the broker and with which password (docs/broker-credentials.md): a device as
its equipment code, a site gateway as gw-<site code>, each with a password derived from one secret
(HMAC-SHA256 of the username), so whoever knows the secret can tell any login's password."""

from __future__ import annotations

import base64
import hashlib
import hmac

GATEWAY_PREFIX = "gw-"  # a site gateway's username: gw-<site code>
_PASSWORD_CHARS = 24  # of URL-safe base64: 144 bits


def gateway_username(site_code: str) -> str:
    return f"{GATEWAY_PREFIX}{site_code}"


def derived_password(secret: str, username: str) -> str:
    """The broker password of `username`: the same for the same secret, whenever asked."""
    digest = hmac.new(secret.encode(), f"fitmon-broker:{username}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode()[:_PASSWORD_CHARS]
