"""A merchant's Stripe connected account, linked by a fund admin."""

import re

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    Merchant,
)

from ..extensions import db
from ..problems import Conflict, InvalidInput


class InvalidStripeAccount(InvalidInput):
    slug = "invalid-stripe-account"
    title = _l("Not a Stripe connected account id")
    message = _l("A Stripe connected account id starts with acct_.")


#: What a Stripe connected account id looks like.
ACCOUNT_ID = re.compile(r"acct_[A-Za-z0-9]{1,250}\Z")


class StripeAccountTaken(Conflict):
    slug = "stripe-account-taken"
    title = _l("This Stripe account is linked to another merchant")
    message = _l("Each merchant is paid into its own Stripe account. Check the account id.")


def link_stripe_account(merchant: Merchant, account_id: str | None) -> Merchant:
    """Link (or, with None, unlink) the connected account the merchant is paid into."""
    if account_id is not None:
        other = db.session.execute(
            sa.select(Merchant).where(
                Merchant.stripe_account_id == account_id, Merchant.id != merchant.id
            )
        ).scalar_one_or_none()
        if other is not None:
            raise StripeAccountTaken(
                _(
                    "The Stripe account %(account)s is linked to another merchant already.",
                    account=account_id,
                )
            )
    merchant.stripe_account_id = account_id
    db.session.flush()
    return merchant
