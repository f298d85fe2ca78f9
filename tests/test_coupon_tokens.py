"""Coupon tokens: Ed25519 signatures with key ids, key rotation, refusals, QR size."""

import base64
import os
import stat
import string
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from support.coupons import issued_coupon, spend

from app import communities, coupon_tokens, coupons, qr, signing
from app.coupon_tokens import (
    CouponExpired,
    CouponSignatureInvalid,
    InvalidCouponToken,
    TokenPayload,
    UnknownSigningKey,
)
from app.coupons import CouponRevoked, CouponUsedUp, ForeignCoupon, UnknownCoupon
from app.signing import KeyRing, SigningKey, SigningKeyError

EXTENSION = "jifen.signing_keys"


@pytest.fixture
def coupon(community, admin, make_member):
    return issued_coupon(community, admin, make_member(community))


@pytest.fixture
def use_keys(monkeypatch, ctx):
    """Make the app sign and verify with these keys for the test."""

    def use(*keys: SigningKey) -> KeyRing:
        ring = KeyRing(tuple(keys))
        monkeypatch.setitem(current_app.extensions, EXTENSION, ring)
        return ring

    return use


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def flip(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1 :]


def test_a_token_carries_kid_community_coupon_and_expiry(coupon, community):
    token = coupon_tokens.coupon_token(coupon)
    payload = coupon_tokens.read_token(token, signing.keyring())
    assert payload == TokenPayload(
        "test-1", community.id, coupon.id, coupon.expires_at.replace(microsecond=0)
    )
    assert coupon_tokens.coupon_token(coupon) == token  # deterministic, so cacheable
    assert coupons.verify_coupon(token, community) is coupon


def test_the_longest_token_fits_a_version_10_qr_at_m():
    key = SigningKey("k" * 16, signing.new_key().private)
    payload = TokenPayload("k" * 16, 2**63 - 1, 2**63 - 1, datetime(2100, 1, 1, tzinfo=UTC))
    raw = coupon_tokens.encode_payload(payload)
    token = f"{b64(raw)}.{b64(key.private.sign(coupon_tokens.SIGNING_CONTEXT + raw))}"
    code = qr.qr_code(token)
    assert code.error_correction == qr.qrcode.constants.ERROR_CORRECT_M
    assert code.version <= 10
    assert code.version == 8  # 138 characters


def test_a_real_token_is_short(coupon):
    token = coupon_tokens.coupon_token(coupon)
    assert len(token) <= 130
    assert qr.qr_code(token).version <= 8


# --- refusals -------------------------------------------------------------------------


@pytest.mark.parametrize("part", [0, 1])
def test_a_tampered_byte_is_refused(coupon, community, part):
    token = coupon_tokens.coupon_token(coupon)
    parts = token.split(".")
    raw = unb64(parts[part])
    first = 2 + len("test-1") if part == 0 else 0  # the version and key id have tests of their own
    for index in range(first, len(raw)):
        parts_copy = list(parts)
        parts_copy[part] = b64(flip(raw, index))
        with pytest.raises(CouponSignatureInvalid) as caught:
            coupons.verify_coupon(".".join(parts_copy), community)
        assert caught.value.type == "urn:jifen:problem:coupon-signature-invalid"
        assert caught.value.status == 422


def test_another_coupon_id_under_the_same_signature_is_refused(
    coupon, community, admin, make_member
):
    other = issued_coupon(community, admin, make_member(community))
    payload, signature = coupon_tokens.coupon_token(coupon).split(".")
    other_payload = coupon_tokens.coupon_token(other).split(".")[0]
    with pytest.raises(CouponSignatureInvalid):
        coupons.verify_coupon(f"{other_payload}.{signature}", community)
    assert payload != other_payload


def test_a_wrong_key_id_is_refused(coupon, community, use_keys):
    token = coupon_tokens.coupon_token(coupon)
    payload = unb64(token.split(".")[0])
    renamed = payload.replace(b"test-1", b"test-9")
    with pytest.raises(UnknownSigningKey) as caught:
        coupons.verify_coupon(f"{b64(renamed)}.{token.split('.')[1]}", community)
    assert caught.value.type == "urn:jifen:problem:unknown-signing-key"
    assert "test-9" in caught.value.detail

    # A key this service never had, even with a kid it knows, fails the signature.
    forger = SigningKey("test-1", signing.new_key().private)
    use_keys(forger)
    forged = coupon_tokens.coupon_token(coupon)
    use_keys(SigningKey("test-1", signing.parse_keys("test-1:" + "A" * 43).signer.private))
    with pytest.raises(CouponSignatureInvalid):
        coupons.verify_coupon(forged, community)


def test_rotation_keeps_old_tokens_valid_until_their_key_is_dropped(coupon, community, use_keys):
    old, new = signing.new_key(), signing.new_key()
    use_keys(old)
    old_token = coupon_tokens.coupon_token(coupon)

    use_keys(new, old)
    new_token = coupon_tokens.coupon_token(coupon)
    assert coupon_tokens.read_token(new_token, signing.keyring()).kid == new.kid
    assert coupons.verify_coupon(old_token, community) is coupon
    assert coupons.verify_coupon(new_token, community) is coupon
    assert [key["kid"] for key in signing.public_keys()] == [new.kid, old.kid]

    use_keys(new)
    with pytest.raises(UnknownSigningKey):
        coupons.verify_coupon(old_token, community)


def test_an_expired_token_is_refused_offline(coupon):
    token = coupon_tokens.coupon_token(coupon)
    keys = signing.keyring()
    assert coupon_tokens.read_token(token, keys, now=coupon.expires_at - timedelta(seconds=1))
    with pytest.raises(CouponExpired) as caught:
        coupon_tokens.read_token(token, keys, now=coupon.expires_at)
    assert caught.value.type == "urn:jifen:problem:coupon-expired"
    assert caught.value.status == 409


def test_another_communitys_coupon_is_refused(coupon, make_community):
    with pytest.raises(ForeignCoupon) as caught:
        coupons.verify_coupon(coupon_tokens.coupon_token(coupon), make_community())
    assert caught.value.type == "urn:jifen:problem:coupon-of-another-community"


def test_a_revoked_or_used_up_coupon_is_refused(coupon, community, admin, make_member):
    token = coupon_tokens.coupon_token(coupon)
    coupons.revoke_coupon(coupon, reason="作废", actor=admin)
    with pytest.raises(CouponRevoked) as revoked:
        coupons.verify_coupon(token, community)
    assert revoked.value.type == "urn:jifen:problem:coupon-revoked"

    used = issued_coupon(community, admin, make_member(community))
    spend(used, used.points, communities.create_merchant(community, name="店", category="超市"))
    with pytest.raises(CouponUsedUp) as used_up:
        coupons.verify_coupon(coupon_tokens.coupon_token(used), community)
    assert used_up.value.type == "urn:jifen:problem:coupon-used-up"


def test_a_signed_token_for_a_missing_coupon_is_refused(coupon, community):
    payload = TokenPayload("test-1", community.id, 999_999_999, coupon.expires_at)
    raw = coupon_tokens.encode_payload(payload)
    signature = signing.keyring().signer.private.sign(coupon_tokens.SIGNING_CONTEXT + raw)
    with pytest.raises(UnknownCoupon):
        coupons.verify_coupon(f"{b64(raw)}.{b64(signature)}", community)


BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def malformed(coupon) -> dict[str, str]:
    token = coupon_tokens.coupon_token(coupon)
    payload, signature = token.split(".")
    raw = unb64(payload)
    # 64 bytes leave the last character 4 unused bits: another spelling, same bytes.
    respelled = signature[:-1] + BASE64URL[BASE64URL.index(signature[-1]) + 1]
    assert unb64(respelled) == unb64(signature)
    return {
        "empty": "",
        "one part": payload,
        "three parts": f"{token}.{signature}",
        "empty part": f"{payload}.",
        "not base64": f"{payload}.{signature[:-2]}!!",
        "padding": f"{payload}.{signature}==",
        "non-canonical": f"{payload}.{respelled}",
        "version": f"{b64(bytes([2]) + raw[1:])}.{signature}",
        "short": f"{b64(raw[:-1])}.{signature}",
        "kid length": f"{b64(raw[:1] + bytes([200]) + raw[2:])}.{signature}",
    }


MALFORMED = [
    "empty",
    "one part",
    "three parts",
    "empty part",
    "not base64",
    "padding",
    "non-canonical",
    "version",
    "short",
    "kid length",
]


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_token_is_refused(coupon, community, case):
    with pytest.raises(InvalidCouponToken) as caught:
        coupons.verify_coupon(malformed(coupon)[case], community)
    assert caught.value.type == "urn:jifen:problem:invalid-coupon-token"


# --- keys -----------------------------------------------------------------------------


def test_key_entries_round_trip_and_bad_ones_are_named():
    key = signing.new_key()
    ring = signing.parse_keys(f" {key.entry()},\n{signing.new_key().entry()} ")
    assert ring.signer.kid == key.kid
    assert ring.signer.public_bytes() == key.public_bytes()
    assert ring.find("nope") is None
    for text, message in [
        ("", "No signing keys"),
        ("no-colon", "kid:base64-private-key"),
        ("bad kid!:" + "A" * 43, "kid:base64-private-key"),
        ("k1:not-base64!", "not a base64 32-byte"),
        ("k1:" + "A" * 20, "not a base64 32-byte"),
        (f"{key.entry()},{key.entry()}", "appears twice"),
    ]:
        with pytest.raises(SigningKeyError) as caught:
            signing.parse_keys(text)
        assert message in str(caught.value)


def test_the_key_file_is_made_once_private_and_rotates(app, tmp_path, monkeypatch):
    with app.app_context():
        monkeypatch.setitem(app.config, "JIFEN_SIGNING_KEYS", None)
        monkeypatch.setattr(app, "instance_path", str(tmp_path))
        app.extensions.pop(EXTENSION, None)
        try:
            first = signing.keyring()
            path = tmp_path / signing.KEY_FILE
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert signing.load_keys(None, str(tmp_path)).signer.kid == first.signer.kid

            rotated = signing.rotate_key_file(str(tmp_path))

            again = signing.keyring()
            assert [key.kid for key in again.keys] == [rotated.kid, first.signer.kid]
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert [p.name for p in tmp_path.iterdir()] == [signing.KEY_FILE]
        finally:
            app.extensions.pop(EXTENSION, None)


def test_public_keys_are_jwks(ctx):
    [key] = signing.public_keys()
    assert key == {
        "kid": "test-1",
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
        "x": b64(signing.keyring().signer.public_bytes()),
    }
    assert len(unb64(key["x"])) == 32
