"""Text that makes a round trip through Slack (a modal's `private_metadata`) is sealed with
HMAC-SHA256, so what comes back decides a channel or a response URL only if we wrote it.

The key is derived from a secret the process already has: the signing secret in HTTP mode, the bot
token in Socket Mode (which has no signing secret). Replicas with the same secrets accept each other's
seals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "s1."
PURPOSE = b"chainops private_metadata v1"
OVERHEAD = len(PREFIX) + 43 + 1  # prefix, the MAC in unpadded base64, the dot


class Tampered(Exception):
    """The text was not sealed by this app, or was changed after it was."""


class Seal:
    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()

    @classmethod
    def from_secrets(cls, *candidates: str) -> Seal:
        """The first secret that is set; without any (the console), a key of this process only."""
        return cls(next((c for c in candidates if c), secrets.token_hex(32)))

    def close(self, text: str) -> str:
        return f"{PREFIX}{self._mac(text)}.{text}"

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise Tampered("not sealed")
        mac, _, text = sealed.removeprefix(PREFIX).partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(text).encode()):
            raise Tampered("seal does not match")
        return text

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
