"""``flask coupons ...``: issuance runs, expiry and signing-key rotation.

Each command commits once, at its end, and on any error nothing is kept; a
city's month commits each rule's run as it ends.
"""

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from models import Community, IssuanceRule, IssuanceRun

from . import communities, coupons, issuance, signing
from .earnings import Period
from .extensions import db
from .problems import Problem

group = AppGroup("coupons", help="Issue and expire coupons; rotate their signing key.")


class Progress:
    """A click progress bar that learns its length from the first report."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _community(slug: str) -> Community:
    community = communities.by_slug(slug)
    if community is None:
        raise click.ClickException(f"No community '{slug}'.")
    return community


@group.command("issue")
@click.option("--period", required=True, help="The finished month whose earnings count, YYYY-MM.")
@click.option("--community", "slug", default=None, help="One community's slug; default all.")
@click.option("--rule", "rule_id", type=int, default=None, help="One rule (of --community).")
def issue(period, slug, rule_id):
    """Issue coupons for a month: one rule's, one community's, or a whole city's
    (every rule of every active community). Running it again issues nothing more."""
    try:
        month = Period.parse(period)
    except Problem as error:
        raise click.ClickException(str(error.detail)) from error
    if rule_id is not None:
        if slug is None:
            raise click.ClickException("--rule needs --community.")
        community = _community(slug)
        rule = db.session.get(IssuanceRule, rule_id)
        if rule is None or rule.community_id != community.id:
            raise click.ClickException(f"No issuance rule {rule_id} in '{slug}'.")
        progress = Progress("Issuing coupons")
        try:
            run = _issue(rule, month, progress)
        finally:
            progress.close()
        click.echo(_summary(run, rule))
        return
    rules = db.session.scalars(
        sa.select(IssuanceRule)
        .join(Community, Community.id == IssuanceRule.community_id)
        .where(Community.active, Community.id == _community(slug).id if slug else sa.true())
        .order_by(IssuanceRule.community_id, IssuanceRule.id)
    ).all()
    issued = points = 0
    with click.progressbar(
        rules, label=f"Issuing {month}'s coupons", show_pos=True,
        item_show_func=lambda rule: f"{issued:,} coupons" if rule else None,
    ) as bar:  # fmt: skip
        for rule in bar:
            run = _issue(rule, month, None)
            issued, points = issued + run.issued, points + run.points
    click.echo(f"{len(rules):,} rules: issued {issued:,} coupons, {points:,} points.")


def _issue(rule: IssuanceRule, month: Period, progress) -> IssuanceRun:
    """One rule's run, committed on its own: a city's month is many runs, and a
    failure in one keeps the others (running again completes it)."""
    try:
        run = issuance.issue_coupons(rule, month, progress=progress)
    except Problem as error:
        db.session.rollback()
        raise click.ClickException(f"{rule.name} ({rule.id}): {error.detail}") from error
    db.session.commit()
    return run


def _summary(run: IssuanceRun, rule: IssuanceRule) -> str:
    return (
        f"Run {run.id}: issued {run.issued:,} coupons, {run.points:,} points "
        f"({rule.name}, {run.period})."
        + (f" Skipped {run.skipped:,}: wallet short of the coupon." if run.skipped else "")
    )


@group.command("expire")
@click.option("--community", "slug", default=None, help="One community's slug; default all.")
def expire(slug):
    """Close coupons past their expiry; their points go where each rule says.

    Safe to run at any time and as often as you like (e.g. hourly from cron).
    """
    community = _community(slug) if slug else None
    progress = Progress("Expiring coupons")
    try:
        result = coupons.expire_coupons(community=community, progress=progress)
    finally:
        progress.close()
    db.session.commit()
    click.echo(
        f"Expired {result.coupons:,} coupons: {result.to_wallets:,} points back to wallets, "
        f"{result.to_expired:,} points to expired."
    )


@group.command("rotate-key")
def rotate_key():
    """Sign new coupon tokens with a new key; tokens signed before keep verifying."""
    configured = current_app.config.get("JIFEN_SIGNING_KEYS")
    if configured:
        key = signing.new_key()
        click.echo(
            "JIFEN_SIGNING_KEYS is set, so keys come from there. Put this new entry first, "
            "keep the old ones after it, and restart:\n" + key.entry()
        )
        return
    key = signing.rotate_key_file(current_app.instance_path)
    path = signing.key_file(current_app.instance_path)
    click.echo(f"New signing key '{key.kid}' is first in {path}; restart to use it.")
