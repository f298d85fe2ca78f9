"""Helpers shared by the fund's tests: a community with a fund admin, and donations paid
in the fake Stripe."""

from dataclasses import dataclass

import sqlalchemy as sa

from app import fund
from app.extensions import db
from models import Donation, Fund
from support.stripe_fixtures import post_event


@dataclass
class FundWorld:
    community: object
    admin_api: object
    resident_api: object
    stripe_fake: object

    @property
    def slug(self):
        return self.community.slug

    def cash(self, which=Fund.COMMUNITY) -> int:
        db.session.expire_all()
        return fund.cash_account(self.community.id, which).balance

    def start(self, amount_fen=10_000, which="community", api=None, **fields):
        reply = (api or self.resident_api).post(
            f"/communities/{self.slug}/donations",
            json={"amount_fen": amount_fen, "fund": which, **fields},
            key=True,
        )
        assert reply.status_code == 201, reply.get_json()
        return reply.get_json()

    def donate(self, amount_fen=10_000, which="community", **fields) -> Donation:
        """A donation paid by card and recorded through its signed webhook."""
        started = self.start(amount_fen, which, **fields)
        self.stripe_fake.pay(started["payment_intent_id"])
        delivery = self.stripe_fake.event("payment_intent.succeeded", started["payment_intent_id"])
        reply = self.deliver(delivery)
        assert reply.get_json()["outcome"] == "recorded", reply.get_json()
        return db.session.get(Donation, started["donation_id"])

    def deliver(self, delivery):
        return post_event(self.admin_api.client, delivery)

    def record_income(self, amount_fen, which="community", source="charity_sale", **fields):
        reply = self.admin_api.post(
            f"/communities/{self.slug}/income",
            json={
                "amount_fen": amount_fen,
                "fund": which,
                "source": source,
                "reference": fields.pop("reference", "义卖-2026-11"),
                **fields,
            },
            key=True,
        )
        assert reply.status_code == 201, reply.get_json()
        return reply.get_json()

    def donation(self, donation_id) -> Donation:
        db.session.expire_all()
        return db.session.execute(
            sa.select(Donation).where(Donation.id == donation_id)
        ).scalar_one()
