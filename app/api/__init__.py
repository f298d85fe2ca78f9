"""The public JSON API, v1 (design.md §9)."""

from flask import Flask

from ..extensions import api, csrf
from . import (
    activities,
    audit,
    auth,
    awards,
    communities,
    coupons,
    fund,
    issuance,
    merchants,
    paycodes,
    reconciliation,
    redemptions,
    settlement,
    wallets,
)
from .openapi import ProblemResponses

BLUEPRINTS = (
    auth.blp,
    communities.blp,
    wallets.blp,
    awards.blp,
    audit.blp,
    activities.blp,
    issuance.blp,
    coupons.blp,
    paycodes.blp,
    merchants.blp,
    redemptions.blp,
    settlement.blp,
    fund.blp,
    reconciliation.blp,
)


def register_api(app: Flask) -> None:
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerAuth": []}],
            "info": {
                "description": "Community public-welfare points: earning, coupons, "
                "redemption at partner merchants, fund settlement and reconciliation. "
                "Errors are application/problem+json."
            },
        },
    )
    api.init_app(app, spec_kwargs={"extra_plugins": [ProblemResponses()]})
    for blp in BLUEPRINTS:
        csrf.exempt(blp)
        api.register_blueprint(blp)
