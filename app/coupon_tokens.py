"""Coupon tokens and short codes: what a coupon's QR code and its printed code say.

A token is ``base64url(payload) "." base64url(signature)``: the payload holds
the key id, community, coupon and expiry, and is signed with Ed25519 (see
``app.signing``). :func:`read_token` checks it offline, with the public keys
only, as a merchant's device can; :func:`app.coupons.verify_coupon` also asks
the database (revoked, used up). A short code is ten characters of an alphabet
without look-alikes, for typing.
"""

import base64
import binascii
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import Coupon, utcnow

from . import signing
from .offers import LOCAL_ZONE
from .problems import Conflict, InvalidInput

#: Short codes: digits and capitals without look-alikes (no 0 O 1 I L U).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10


class InvalidCouponToken(InvalidInput):
    slug, title = "invalid-coupon-token", _l("Not a coupon token")
    message = _l("This is not a coupon QR code.")


class UnknownSigningKey(InvalidInput):
    slug, title = "unknown-signing-key", _l("Coupon signed with an unknown key")
    message = _l("This coupon QR code is forged or damaged.")


class CouponSignatureInvalid(InvalidInput):
    slug, title = "coupon-signature-invalid", _l("Coupon signature does not match")
    message = _l("This coupon QR code is forged or damaged.")


class CouponExpired(Conflict):
    slug, title = "coupon-expired", _l("Coupon has expired")
    message = _l("This coupon has expired.")


# --- short codes -------------------------------------------------------------


#: How many codes there are: 30^10, about 49 bits.
CODE_SPACE = len(CODE_ALPHABET) ** CODE_LENGTH
#: 64-bit draws below this are kept; it is a multiple of ``CODE_SPACE``, so each
#: code is exactly as likely as any other.
_KEPT_BELOW = (1 << 64) // CODE_SPACE * CODE_SPACE


def new_codes(count: int) -> list[str]:
    """``count`` random codes, each uniform over the code space.

    The random bytes come from the operating system in one read per batch, not one
    per code: a coupon run draws 100,000. A 64-bit draw at or above the largest
    multiple of the code space is thrown away (about 1 in 43,000) and made up."""
    codes: list[str] = []
    while len(codes) < count:
        drawn = secrets.token_bytes(8 * (count - len(codes)))
        codes += [
            _written(number % CODE_SPACE)
            for (number,) in struct.iter_unpack("<Q", drawn)
            if number < _KEPT_BELOW
        ]
    return codes


def _written(number: int) -> str:
    digits = []
    for _position in range(CODE_LENGTH):
        number, digit = divmod(number, len(CODE_ALPHABET))
        digits.append(CODE_ALPHABET[digit])
    return "".join(digits)


def normalize_code(text: str) -> str:
    """What a person typed, as stored: capitals, without spaces or dashes."""
    return "".join(text.split()).replace("-", "").upper()


# --- tokens ------------------------------------------------------------------

TOKEN_VERSION = 1
#: Signed before the payload, so a coupon signature can never pass for another kind.
SIGNING_CONTEXT = b"jifen-coupon\x00"
_IDS = struct.Struct(">QQI")


@dataclass(frozen=True)
class TokenPayload:
    kid: str
    community_id: int
    coupon_id: int
    expires_at: datetime


def encode_payload(payload: TokenPayload) -> bytes:
    kid = payload.kid.encode("ascii")
    expires = int(payload.expires_at.timestamp())
    return (
        bytes([TOKEN_VERSION, len(kid)])
        + kid
        + _IDS.pack(payload.community_id, payload.coupon_id, expires)
    )


def decode_payload(raw: bytes) -> TokenPayload:
    if len(raw) < 2 or raw[0] != TOKEN_VERSION or len(raw) != 2 + raw[1] + _IDS.size:
        raise InvalidCouponToken(_("The token's contents are not a coupon of this version."))
    kid = raw[2 : 2 + raw[1]].decode("ascii", errors="replace")
    community_id, coupon_id, expires = _IDS.unpack(raw[2 + raw[1] :])
    return TokenPayload(kid, community_id, coupon_id, datetime.fromtimestamp(expires, UTC))


def coupon_token(coupon: Coupon) -> str:
    """The coupon's QR content, signed with the current key.

    Ed25519 signatures are deterministic: the same coupon and key always give
    the same token, so its QR image can be cached.
    """
    key = signing.keyring().signer
    payload = encode_payload(
        TokenPayload(key.kid, coupon.community_id, coupon.id, coupon.expires_at)
    )
    signature = key.private.sign(SIGNING_CONTEXT + payload)
    return f"{signing.b64url(payload)}.{signing.b64url(signature)}"


def _b64url_decode(part: str) -> bytes:
    """Strict base64url: only the alphabet, and only the one canonical spelling."""
    try:
        raw = base64.b64decode(part + "=" * (-len(part) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidCouponToken(_("The token is not base64url text.")) from error
    if not hmac.compare_digest(signing.b64url(raw), part):
        raise InvalidCouponToken(_("The token is not in its canonical form."))
    return raw


def read_token(token: str, keys: signing.KeyRing, now: datetime | None = None) -> TokenPayload:
    """Check a token offline: its form, its key, its signature, then its expiry.

    Needs only public keys; says nothing about revocation or what is left.
    """
    parts = token.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidCouponToken(_("A coupon token is two base64url parts joined by '.'."))
    payload_raw, signature = (_b64url_decode(part) for part in parts)
    payload = decode_payload(payload_raw)
    key = keys.find(payload.kid)
    if key is None:
        raise UnknownSigningKey(
            _(
                "The coupon was signed with key %(kid)s, which this service does not know.",
                kid=payload.kid,
            )
        )
    if not signing.verify(key.public, signature, SIGNING_CONTEXT + payload_raw):
        raise CouponSignatureInvalid(_("The coupon's signature does not match: it was altered."))
    if (now or utcnow()) >= payload.expires_at:
        raise CouponExpired(
            _(
                "The coupon expired at %(time)s.",
                time=payload.expires_at.astimezone(LOCAL_ZONE).strftime("%Y-%m-%d %H:%M"),
            )
        )
    return payload
