"""``flask coupons ...``: issuance runs, expiry and signing-key rotation.

Each command commits once, at its end; on any error nothing is kept.
"""

import click
from flask import current_app
from flask.cli import AppGroup

from models import Community, IssuanceRule

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
@click.option("--community", "slug", required=True, help="The community's slug.")
@click.option("--rule", "rule_id", required=True, type=int, help="The issuance rule's id.")
@click.option("--period", required=True, help="The finished month whose earnings count, YYYY-MM.")
def issue(slug, rule_id, period):
    """Issue a rule's coupons for a month; running it again issues nothing more."""
    community = _community(slug)
    rule = db.session.get(IssuanceRule, rule_id)
    if rule is None or rule.community_id != community.id:
        raise click.ClickException(f"No issuance rule {rule_id} in '{slug}'.")
    progress = Progress("Issuing coupons")
    try:
        run = issuance.issue_coupons(rule, Period.parse(period), progress=progress)
    except Problem as error:
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from error
    finally:
        progress.close()
    db.session.commit()
    click.echo(
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
