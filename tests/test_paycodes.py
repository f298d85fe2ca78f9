"""Pay-codes (付款码): generated per window, verified, consumed once, reset."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import paycodes
from app.extensions import db
from app.paycodes import ForeignPayCode, InvalidPayCode, PayCodeExpired, PayCodeUsed
from app.problems import NotFound
from models import PayCodeSecret, PayCodeUse, Role

#: A moment at the start of a 30-second window.
T0 = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=30)


def code_at(member, moment) -> str:
    return paycodes.pay_code(member, now=moment).code


def test_a_pay_code_is_digits_naming_the_member_and_window(resident):
    shown = paycodes.pay_code(resident, now=T0 + timedelta(seconds=7))

    assert shown.code.isdigit()
    assert shown.code.startswith(str(resident.id))
    assert len(shown.code) == len(str(resident.id)) + 10
    assert shown.window_index == int(T0.timestamp()) // 30
    assert shown.code[-10] == str(shown.window_index % 10)
    assert (shown.refresh_at, shown.expires_at) == (T0 + WINDOW, T0 + 2 * WINDOW)
    assert shown.window_seconds == 30


def test_the_code_changes_every_window_and_differs_per_member(resident, make_member, community):
    codes = [code_at(resident, T0 + n * WINDOW) for n in range(12)]
    assert len(set(codes)) == 12
    assert code_at(resident, T0 + timedelta(seconds=29)) == codes[0]
    assert code_at(make_member(community), T0) != codes[0]


def test_a_code_is_accepted_for_its_window_and_the_next(resident, community):
    code = code_at(resident, T0)
    for moment in (T0, T0 + timedelta(seconds=59)):
        assert paycodes.verify_pay_code(code, community, now=moment) is resident
    # A neighbouring clock a moment ahead still accepts it.
    assert paycodes.verify_pay_code(code, community, now=T0 - timedelta(seconds=1)) is resident
    for moment in (T0 + 2 * WINDOW, T0 + 8 * WINDOW + timedelta(seconds=29)):
        with pytest.raises(PayCodeExpired) as caught:
            paycodes.verify_pay_code(code, community, now=moment)
        assert caught.value.type == "urn:jifen:problem:pay-code-expired"
    # Older still, the window digit points at another window: simply not valid.
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(code, community, now=T0 + 9 * WINDOW)


def test_a_code_is_used_once(resident, community):
    code = code_at(resident, T0)

    assert paycodes.consume_pay_code(code, community, now=T0) is resident

    with pytest.raises(PayCodeUsed) as caught:
        paycodes.consume_pay_code(code, community, now=T0 + timedelta(seconds=20))
    assert caught.value.type == "urn:jifen:problem:pay-code-used"
    assert caught.value.status == 409
    used = db.session.scalars(sa.select(PayCodeUse).where(PayCodeUse.member_id == resident.id))
    assert [use.window_index for use in used] == [int(T0.timestamp()) // 30]
    # The next window's code is a new one.
    assert paycodes.consume_pay_code(code_at(resident, T0 + WINDOW), community, now=T0 + WINDOW)


def test_a_tampered_code_is_refused(resident, community):
    code = code_at(resident, T0)
    for index in range(len(code)):
        digit = str((int(code[index]) + 1) % 10)
        altered = code[:index] + digit + code[index + 1 :]
        # Member, window or MAC digit: the MAC no longer matches.
        with pytest.raises(InvalidPayCode) as caught:
            paycodes.verify_pay_code(altered, community, now=T0)
        assert caught.value.type == "urn:jifen:problem:invalid-pay-code"


@pytest.mark.parametrize(
    "code", ["", "abc", "1234567890", "0123456789012", "12345678901" + "x", "١٢٣٤٥٦٧٨٩٠١", "9" * 31]
)
def test_malformed_codes_are_refused(community, code):
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(code, community, now=T0)


def test_an_unknown_member_or_one_without_a_secret_is_refused(resident, community, make_member):
    code = code_at(resident, T0)
    no_secret = make_member(community)
    forged = f"{no_secret.id}{code[len(str(resident.id)) :]}"
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(forged, community, now=T0)
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(f"999999999{code[-10:]}", community, now=T0)


def test_another_communitys_code_is_refused(resident, make_community):
    code = code_at(resident, T0)
    with pytest.raises(ForeignPayCode) as caught:
        paycodes.consume_pay_code(code, make_community(), now=T0)
    assert caught.value.type == "urn:jifen:problem:pay-code-of-another-community"
    used = sa.select(PayCodeUse.id).where(PayCodeUse.member_id == resident.id)
    assert db.session.scalars(used).first() is None


def test_a_disabled_members_code_is_refused(resident, community):
    code = code_at(resident, T0)
    resident.active = False
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(code, community, now=T0)


def test_reset_voids_every_earlier_code(resident, community):
    before = code_at(resident, T0)
    salt = db.session.scalar(
        sa.select(PayCodeSecret.salt).where(PayCodeSecret.member_id == resident.id)
    )

    paycodes.reset_pay_code(resident)

    after = code_at(resident, T0)
    assert after != before
    assert (
        db.session.scalar(
            sa.select(PayCodeSecret.salt).where(PayCodeSecret.member_id == resident.id)
        )
        != salt
    )
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(before, community, now=T0)
    assert paycodes.verify_pay_code(after, community, now=T0) is resident


def test_the_secret_needs_the_apps_key_too(resident, community, app, monkeypatch):
    code = code_at(resident, T0)
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-deployment")
    with pytest.raises(InvalidPayCode):
        paycodes.verify_pay_code(code, community, now=T0)


def test_the_window_length_is_configurable(resident, community, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAY_CODE_WINDOW_SECONDS", 2)
    shown = paycodes.pay_code(resident, now=T0)
    assert shown.expires_at - T0 == timedelta(seconds=4)
    assert code_at(resident, T0 + timedelta(seconds=2)) != shown.code
    with pytest.raises(PayCodeExpired):
        paycodes.verify_pay_code(shown.code, community, now=T0 + timedelta(seconds=4))


def test_only_wallet_holders_have_pay_codes(make_member, community):
    staff = make_member(community, Role.MERCHANT_STAFF)
    with pytest.raises(NotFound):
        paycodes.pay_code(staff)
    with pytest.raises(NotFound):
        paycodes.reset_pay_code(staff)
