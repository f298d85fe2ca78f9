"""Cursor pagination: newest first, keyed on the row id, stable under inserts."""

import base64
import binascii
import json

import marshmallow as ma
from flask import current_app
from flask_babel import gettext as _

from . import fields
from .extensions import db
from .problems import InvalidInput


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    invalid = InvalidInput(
        _("The cursor is not one this API returned."), errors={"query": {"cursor": ["Invalid."]}}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        before = json.loads(raw)["before"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise invalid from error
    # bool is an int too; ids are positive 64-bit integers on every database.
    if type(before) is not int or not 0 < before < 2**63:
        raise invalid
    return before


class PageArgs(ma.Schema):
    cursor = ma.fields.String(metadata={"description": "next_cursor from the previous page"})
    limit = fields.QueryInteger(minimum=1, maximum=200)


def page(fetch, args: dict) -> dict:
    """Call ``fetch(before=..., limit=...)`` for one page and wrap it with a cursor."""
    limit = args.get("limit") or current_app.config["PAGE_SIZE_DEFAULT"]
    items = fetch(before=decode_cursor(args.get("cursor")), limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more else None}


def page_schema(item_schema, name: str) -> type[ma.Schema]:
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema)),
            "next_cursor": ma.fields.String(allow_none=True),
        },
        name=name,
    )


def newest_first(query, id_column):
    """A ``fetch`` for :func:`page` over a select of one model."""

    def fetch(before, limit):
        paged = query if before is None else query.where(id_column < before)
        return db.session.execute(paged.order_by(id_column.desc()).limit(limit)).scalars().all()

    return fetch
