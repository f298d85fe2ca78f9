"""Lifecycles: a status enum, its legal moves, and one named error for the rest.

Each domain object (award, activity, attendance, coupon, redemption) declares
one :class:`Lifecycle`; its status changes only through :meth:`Lifecycle.move`,
never by comparing or assigning status strings ad hoc.
"""

from collections.abc import Mapping
from enum import Enum

from flask_babel import gettext as _

from .problems import Conflict


class Lifecycle:
    """``name`` says what the object is in a refusal's sentence: give it translatable."""

    def __init__(self, name, moves: Mapping[Enum, set], error: type[Conflict]):
        self.name = name
        self.moves = moves
        self.error = error

    def may(self, current: Enum, new: Enum) -> bool:
        return new in self.moves[current]

    def check(self, obj, new: Enum) -> None:
        """Raise the lifecycle's named error unless ``obj`` may become ``new``."""
        if not self.may(obj.status, new):
            raise self.error(
                _(
                    "%(name)s %(id)s is %(status)s; it cannot become %(new)s.",
                    name=self.name,
                    id=obj.id,
                    status=obj.status.value,
                    new=new.value,
                )
            )

    def move(self, obj, new: Enum, **changes) -> None:
        """Move ``obj`` to ``new`` together with the fields that go with it."""
        self.check(obj, new)
        obj.status = new
        for field, value in changes.items():
            setattr(obj, field, value)

    def reach(self, obj, new: Enum, **changes) -> bool:
        """:meth:`move`, except that an object already at ``new`` stays as it is; whether it
        moved. For lifecycles where asking twice for the same state is a harmless retry."""
        if obj.status == new:
            return False
        self.move(obj, new, **changes)
        return True

    def sources(self, new: Enum) -> list:
        """For set-based updates: the statuses from which ``new`` is a legal move."""
        return [status for status, targets in self.moves.items() if new in targets]
