"""CLI commands (design.md §11a). Each command commits once, at its end."""

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from models import Community, Role

from . import communities
from .earnings import Period
from .extensions import db
from .money import format_fen
from .problems import Problem
from .reconciliation import reconcile
from .replica import reports_reads

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
@click.option("--period", default=None, help="One month, YYYY-MM; default the total to date.")
def reconcile_command(slug, period):
    """Report each community's figures and check its invariants; exit 1 if any fails."""
    month = None
    if period is not None:
        try:
            month = Period.parse(period)
        except Problem as error:
            raise click.BadParameter(str(error.detail), param_hint="--period") from error
    query = sa.select(Community).order_by(Community.id)
    if slug:
        query = query.where(Community.slug == slug)
    selected = db.session.execute(query).scalars().all()
    if slug and not selected:
        raise click.ClickException(f"No community '{slug}'.")
    failed = False
    for community in selected:
        with reports_reads():
            report = reconcile(community, month)
        failed |= not report.ok
        for line in report_lines(report):
            click.echo(line)
    click.echo("\nAll checks passed." if not failed else "\nSome checks FAILED.")
    db.session.rollback()
    if failed:
        sys.exit(1)


def report_lines(report) -> list[str]:
    """The report as the terminal shows it: balances, the main figures, the checks."""
    figures = report.figures
    points, money, liability = figures["points"], figures["money"], figures["liability"]
    redeemed = points["redeemed"]
    lines = [
        "",
        f"{report.community.name} ({report.community.slug})"
        + (f" {report.period}" if report.period else " total to date"),
    ]
    for (unit, kind), total in sorted(report.balances.items()):
        lines.append(f"  {unit:<7}{kind:<22}{total:>16,}")
    lines += [
        f"  minted {points['minted']['total']:,} points "
        f"(activities {points['minted']['activity_awards']:,}, "
        f"manual {points['minted']['manual_awards']:,}, "
        f"coupon grants {points['minted']['coupon_grants']:,})",
        f"  redeemed by coupon {redeemed['coupon']:,} points "
        f"({format_fen(redeemed['coupon_value_fen'])}), "
        f"by pay-code {redeemed['pay_code']:,} points "
        f"({format_fen(redeemed['pay_code_value_fen'])})",
        "  coupons " + ", ".join(f"{k} {n:,}" for k, n in report.coupons.items()),
        f"  income {format_fen(money['income']['net_fen'])} net; "
        + "; ".join(
            f"{name} fund cash {format_fen(fund['closing_fen'])}"
            for name, fund in money["funds"].items()
        ),
        f"  liability {liability['outstanding_points']:,} points = "
        f"{format_fen(liability['value_fen'])}, coverage "
        f"{liability['coverage_ratio'] or 'n/a'}"
        + (" WARNING: below 1.0" if liability["coverage_warning"] else ""),
    ]
    for check in report.checks:
        mark = "skip" if check.skipped else ("ok  " if check.ok else "FAIL")
        lines.append(f"  [{mark}] {check.name}" + (f": {check.detail}" if check.detail else ""))
    return lines


def register_commands(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(reconcile_command)
    from .coupon_commands import group as coupons_group
    from .demo import demo_command
    from .settlement_commands import settle_command

    app.cli.add_command(demo_command)
    app.cli.add_command(coupons_group)
    app.cli.add_command(settle_command)
