"""CLI commands (design.md §11a). Each command commits once, at its end."""

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from models import Community, Role

from . import communities
from .extensions import db
from .problems import Problem
from .reconciliation import reconcile

users = AppGroup("users", help="Manage sign-in accounts.")


@users.command("create-admin")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--display-name", default=None, help="Defaults to the username.")
def create_admin(username, password, display_name):
    """Create a platform admin (district operator)."""
    try:
        member = communities.create_member(
            None,
            username=username,
            password=password,
            display_name=display_name or username,
            role=Role.PLATFORM_ADMIN,
        )
    except Problem as error:
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from error
    db.session.commit()
    click.echo(f"Created platform admin '{member.username}' (id {member.id}).")


@click.command("reconcile")
@with_appcontext
@click.option("--community", "slug", default=None, help="One community's slug; default all.")
def reconcile_command(slug):
    """Check the ledger's invariants per community; exit 1 if any fails."""
    query = sa.select(Community).order_by(Community.id)
    if slug:
        query = query.where(Community.slug == slug)
    selected = db.session.execute(query).scalars().all()
    if slug and not selected:
        raise click.ClickException(f"No community '{slug}'.")
    failed = False
    for community in selected:
        report = reconcile(community)
        failed |= not report.ok
        click.echo(f"\n{community.name} ({community.slug})")
        for (unit, kind), total in sorted(report.balances.items()):
            click.echo(f"  {unit:<7}{kind:<22}{total:>16,}")
        click.echo("  coupons " + ", ".join(f"{k} {n:,}" for k, n in report.coupons.items()))
        for check in report.checks:
            mark = "ok  " if check.ok else "FAIL"
            click.echo(f"  [{mark}] {check.name}" + (f": {check.detail}" if check.detail else ""))
    click.echo("\nAll checks passed." if not failed else "\nSome checks FAILED.")
    db.session.rollback()
    if failed:
        sys.exit(1)


def register_commands(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(reconcile_command)
    from .coupon_commands import group as coupons_group
    from .demo import demo_command
    from .settlement_commands import settle_command

    app.cli.add_command(demo_command)
    app.cli.add_command(coupons_group)
    app.cli.add_command(settle_command)
