"""Ed25519 keys that sign coupon tokens: the first key signs, every key verifies.

Keys come from ``JIFEN_SIGNING_KEYS`` (``kid:base64-private-key`` entries,
separated by commas or new lines), else from the file ``signing_keys`` in the
instance folder, in the same format, created with one fresh key on first use
(mode 0600). Rotating puts a new key first and keeps the old ones after it, so
coupons signed with an old key still verify; ``GET /api/v1/keys`` serves every
public key, so merchant devices can check a token offline.
"""

import base64
import binascii
import contextlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

KEY_FILE = "signing_keys"
KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_EXTENSION = "jifen.signing_keys"


class SigningKeyError(ValueError):
    """The configured keys cannot be read; raised at first use, naming what is wrong."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def public_bytes(self) -> bytes:
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def entry(self) -> str:
        """This key as one ``kid:base64`` entry of ``JIFEN_SIGNING_KEYS`` or the key file."""
        raw = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return f"{self.kid}:{base64.b64encode(raw).decode()}"


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SigningKey, ...]

    @property
    def signer(self) -> SigningKey:
        return self.keys[0]

    def find(self, kid: str) -> SigningKey | None:
        return next((key for key in self.keys if key.kid == kid), None)


def new_key() -> SigningKey:
    kid = f"k{datetime.now(UTC):%Y%m%d}{secrets.token_hex(2)}"
    return SigningKey(kid, Ed25519PrivateKey.generate())


def parse_keys(text: str) -> KeyRing:
    keys: list[SigningKey] = []
    for entry in re.split(r"[,\s]+", text.strip()):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not KID.fullmatch(kid):
            raise SigningKeyError(
                f"A signing key entry must be 'kid:base64-private-key' with a kid of 1-16 "
                f"letters, digits, '-' or '_'; got {entry[:20]!r}..."
            )
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_")
            private = Ed25519PrivateKey.from_private_bytes(raw)
        except (binascii.Error, ValueError) as error:
            raise SigningKeyError(
                f"Signing key '{kid}' is not a base64 32-byte Ed25519 key."
            ) from error
        if any(key.kid == kid for key in keys):
            raise SigningKeyError(f"Signing key id '{kid}' appears twice.")
        keys.append(SigningKey(kid, private))
    if not keys:
        raise SigningKeyError("No signing keys configured.")
    return KeyRing(tuple(keys))


def key_file(instance_path: str) -> Path:
    return Path(instance_path) / KEY_FILE


def _write_new_file(path: Path, text: str) -> None:
    """Create ``path`` (0600) with ``text`` unless it exists, never half-written.

    Workers starting together race here: each writes a private temporary file
    and links it into place; the link fails for all but the first, whose key
    everyone then reads.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing_keys-")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)


def _replace_file(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing_keys-")
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_keys(config_value: str | None, instance_path: str) -> KeyRing:
    if config_value:
        return parse_keys(config_value)
    path = key_file(instance_path)
    if not path.exists():
        _write_new_file(path, new_key().entry() + "\n")
    return parse_keys(path.read_text())


def keyring() -> KeyRing:
    """The app's keys, read once per process."""
    ring = current_app.extensions.get(_EXTENSION)
    if ring is None:
        ring = load_keys(current_app.config.get("JIFEN_SIGNING_KEYS"), current_app.instance_path)
        current_app.extensions[_EXTENSION] = ring
    return ring


def rotate_key_file(instance_path: str) -> SigningKey:
    """Put a new key first in the instance key file; the old keys keep verifying."""
    current = load_keys(None, instance_path)
    key = new_key()
    entries = [key.entry(), *(old.entry() for old in current.keys)]
    _replace_file(key_file(instance_path), "\n".join(entries) + "\n")
    current_app.extensions.pop(_EXTENSION, None)
    return key


def sign(message: bytes) -> tuple[str, bytes]:
    """Sign with the current key: its kid and the 64-byte signature."""
    key = keyring().signer
    return key.kid, key.private.sign(message)


def verify(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is ``message``'s, by ``public``.

    OpenSSL compares the signature in constant time.
    """
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def public_keys() -> list[dict]:
    """Every verification key, as JSON Web Keys (RFC 8037, OKP / Ed25519)."""
    return [
        {
            "kid": key.kid,
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "x": b64url(key.public_bytes()),
        }
        for key in keyring().keys
    ]
