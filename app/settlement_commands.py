"""``flask settle``: a finished month's settlement statements, from the command line.

It commits once, at its end; on any error nothing is kept.
"""

import click
from flask_babel import force_locale

from . import settlement
from .coupon_commands import Progress, _community
from .earnings import Period
from .extensions import db
from .money import format_fen
from .problems import Problem


@click.command("settle")
@click.option("--community", "slug", required=True, help="The community's slug.")
@click.option("--period", required=True, help="The finished month to settle, YYYY-MM.")
def settle_command(slug, period):
    """Make the month's draft statements, one per merchant; settling again makes nothing new."""
    community = _community(slug)
    progress = Progress("Settling redemptions")
    try:
        # No request chooses a language here; the command speaks English, as the others do.
        with force_locale("en"):
            made = settlement.settle(community, Period.parse(period), progress=progress)
    except Problem as error:
        db.session.rollback()
        raise click.ClickException(str(error.detail)) from error
    finally:
        progress.close()
    db.session.commit()
    redemptions = sum(statement.redemptions for statement in made)
    points = sum(statement.points for statement in made)
    amount = format_fen(sum(statement.amount_fen for statement in made))
    click.echo(
        f"{len(made):,} statements for {period}: {redemptions:,} redemptions, {points:,} points, "
        f"{amount}" + ("" if made else " (nothing left to settle)")
    )
    for statement in made:
        click.echo(
            f"  statement {statement.id}  {statement.merchant.name}  {statement.redemptions:,} "
            f"redemptions  {format_fen(statement.amount_fen)}"
        )
