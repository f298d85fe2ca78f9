"""``flask coupons issue|expire|rotate-key``, and ``flask reconcile`` after each."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from support.books import balance, escrow, wallet
from support.coupons import earn, in_period, make_rule

from app import coupons, issuance, signing
from app.earnings import last_month
from app.extensions import db
from models import (
    AccountKind,
    Coupon,
    CouponFunding,
    CouponStatus,
    ExpiryTarget,
    IssuanceRun,
    Role,
    TransactionKind,
)


def reconciled(cli, community) -> str:
    result = cli.invoke(args=["reconcile", "--community", community.slug])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
    return result.output


def test_issue_shows_progress_and_what_it_issued(cli, community, admin, make_member):
    residents = [make_member(community) for _ in range(3)]
    for resident in residents:
        earn(resident, 350)
    rule = make_rule(community, admin, name="月度积分券")
    db.session.commit()
    args = ["coupons", "issue", "--community", community.slug, "--rule", str(rule.id)]

    first = cli.invoke(args=[*args, "--period", str(last_month())])

    assert first.exit_code == 0, first.output
    assert "Issuing coupons" in first.output
    run_id = db.session.scalars(
        sa.select(IssuanceRun.id).where(IssuanceRun.rule_id == rule.id)
    ).one()
    assert (
        f"Run {run_id}: issued 3 coupons, 300 points (月度积分券, {last_month()})." in first.output
    )
    assert escrow(community) == 300
    assert "coupons issued 3, open 3, redeemed 0, expired 0, revoked 0" in reconciled(
        cli, community
    )

    again = cli.invoke(args=[*args, "--period", str(last_month())])
    assert again.exit_code == 0, again.output
    assert "issued 0 coupons, 0 points" in again.output
    assert escrow(community) == 300


def test_issue_says_what_was_skipped(cli, community, admin, make_member):
    resident = make_member(community)
    earn(resident, 300)
    earn(resident, -250, kind=TransactionKind.DEDUCTION)
    rule = make_rule(community, admin, funding=CouponFunding.CONVERT)
    db.session.commit()
    args = ["coupons", "issue", "--community", community.slug, "--rule", str(rule.id)]
    result = cli.invoke(args=[*args, "--period", str(last_month())])
    assert result.exit_code == 0, result.output
    assert "issued 0 coupons" in result.output
    assert "Skipped 1: wallet short of the coupon." in result.output
    assert wallet(resident) == 50


def test_issue_for_a_whole_city_runs_every_rule_once(cli, make_community, make_member):
    """Without --community, every rule of every active community; again, nothing more."""
    places = [make_community() for _ in range(3)]
    places[2].active = False
    for place in places:
        admin = make_member(place, Role.FUND_ADMIN)
        for _ in range(2):
            earn(make_member(place), 300)
        make_rule(place, admin, name=f"券 {place.slug}")
    db.session.commit()

    first = cli.invoke(args=["coupons", "issue", "--period", str(last_month())])

    assert first.exit_code == 0, first.output
    assert "Issuing" in first.output
    for place, expected in zip(places, (200, 200, 0), strict=True):
        assert escrow(place) == expected
        reconciled(cli, place)
    again = cli.invoke(args=["coupons", "issue", "--period", str(last_month())])
    assert again.exit_code == 0, again.output
    assert "issued 0 coupons" in again.output
    assert [escrow(place) for place in places] == [200, 200, 0]


def test_a_rule_needs_its_community(cli, community, admin):
    rule = make_rule(community, admin)
    db.session.commit()
    result = cli.invoke(args=["coupons", "issue", "--rule", str(rule.id), "--period", "2026-01"])
    assert result.exit_code == 1
    assert "--rule needs --community." in result.output


@pytest.mark.parametrize(
    ("slug", "rule", "period", "message"),
    [
        ("no-such-place", None, "2026-01", "No community 'no-such-place'."),
        (None, 999_999_999, "2026-01", "No issuance rule 999999999"),
        (None, None, "2026-13", "'2026-13' is not a month"),
        (None, None, "2999-01", "2999-01 is not over yet"),
    ],
)
def test_issue_refuses_clearly_and_changes_nothing(
    cli, community, admin, make_member, slug, rule, period, message
):
    earn(make_member(community), 300)
    real = make_rule(community, admin)
    db.session.commit()

    args = ["coupons", "issue", "--community", slug or community.slug]
    result = cli.invoke(args=[*args, "--rule", str(rule or real.id), "--period", period])

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    for model in (Coupon, IssuanceRun):
        assert not db.session.scalars(
            sa.select(model.id).where(model.community_id == community.id)
        ).first()


def test_expire_moves_points_and_reconciles(cli, community, admin, make_member, make_community):
    back, gone = make_member(community), make_member(community)
    two_months_ago = last_month().previous()
    for resident in (back, gone):
        earn(resident, 300, at=in_period(two_months_ago))
    # Issued early last month, valid one day: long expired now.
    issued_at = two_months_ago.end + timedelta(hours=1)
    for target in (ExpiryTarget.WALLET, ExpiryTarget.EXPIRED):
        rule = make_rule(community, admin, valid_days=1, on_expiry=target, min_points_earned=300)
        issuance.issue_coupons(rule, two_months_ago, now=issued_at)
    current = make_rule(community, admin, name="本月")
    issuance.issue_coupons(current, last_month().previous(), now=issued_at)
    db.session.commit()
    assert escrow(community) == 600
    elsewhere = make_community()

    only_elsewhere = cli.invoke(args=["coupons", "expire", "--community", elsewhere.slug])
    assert "Expired 0 coupons" in only_elsewhere.output
    result = cli.invoke(args=["coupons", "expire", "--community", community.slug])

    assert result.exit_code == 0, result.output
    assert "Expiring coupons" in result.output
    assert "Expired 4 coupons: 200 points back to wallets, 200 points to expired." in result.output
    assert wallet(back) == 300 + 100
    assert balance(community, AccountKind.EXPIRED) == 200
    assert escrow(community) == 200  # the coupons valid to the end of next month
    statuses = db.session.scalars(
        sa.select(Coupon.status).where(Coupon.community_id == community.id)
    ).all()
    assert sorted(statuses) == ["expired"] * 4 + ["issued"] * 2
    assert "expired 4" in reconciled(cli, community)
    assert "Expired 0 coupons" in cli.invoke(args=["coupons", "expire"]).output

    missing = cli.invoke(args=["coupons", "expire", "--community", "no-such-place"])
    assert missing.exit_code == 1
    assert "No community 'no-such-place'." in missing.output


def test_reconcile_after_revocation(cli, community, admin, make_member):
    resident = make_member(community)
    earn(resident, 300)
    issuance.issue_coupons(make_rule(community, admin), last_month())
    coupon = db.session.scalars(sa.select(Coupon).where(Coupon.member_id == resident.id)).one()
    coupons.revoke_coupon(coupon, reason="发错了", actor=admin)
    db.session.commit()
    assert coupon.status == CouponStatus.REVOKED
    assert "revoked 1" in reconciled(cli, community)


def test_rotate_key_with_keys_from_the_environment_prints_a_new_entry(cli):
    result = cli.invoke(args=["coupons", "rotate-key"])
    assert result.exit_code == 0, result.output
    assert "JIFEN_SIGNING_KEYS is set" in result.output
    entry = result.output.strip().splitlines()[-1]
    assert signing.parse_keys(entry).signer.kid.startswith("k")
    assert signing.keyring().signer.kid == "test-1"


def test_rotate_key_in_the_instance_key_file(app, cli, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "JIFEN_SIGNING_KEYS", None)
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    monkeypatch.delitem(app.extensions, "jifen.signing_keys", raising=False)
    first = signing.keyring().signer.kid

    result = cli.invoke(args=["coupons", "rotate-key"])

    assert result.exit_code == 0, result.output
    ring = signing.load_keys(None, str(tmp_path))
    assert f"New signing key '{ring.signer.kid}' is first in" in result.output
    assert [key.kid for key in ring.keys][1:] == [first]
    app.extensions.pop("jifen.signing_keys", None)
