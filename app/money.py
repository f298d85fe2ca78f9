"""Points and fen: integers only, and every rounding made visible."""

from typing import NamedTuple


class PointsValue(NamedTuple):
    value_fen: int
    #: Hundredths of a point left unconverted by the floor; never silently lost.
    remainder_centipoints: int


def points_value(points: int, points_per_yuan: int) -> PointsValue:
    """``value_fen = floor(points * 100 / points_per_yuan)`` (design.md §2)."""
    value_fen, remainder = divmod(points * 100, points_per_yuan)
    return PointsValue(value_fen, remainder)


def format_fen(fen: int) -> str:
    """``123456`` -> ``¥1,234.56``; integer arithmetic throughout."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


def format_yuan(fen: int) -> str:
    """``123456`` -> ``1234.56``: yuan as a plain number, for a spreadsheet's column."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan}.{cents:02d}"
