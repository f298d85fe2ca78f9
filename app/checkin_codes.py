"""The codes that put a member at an activity: the rotating check-in code and the member code.

**Rotating check-in code.** Time is cut into windows of ``CHECKIN_WINDOW_SECONDS``
(30). For window ``w`` the code is HMAC-SHA256, keyed with the activity's own
secret, over ``community:activity:w``; its first 30 bits, written in an
alphabet without look-alike characters (no 0/O, no 1/I), make a six-character
code a resident can type. The organizer's screen shows the current window's
code, and a QR of the check-in page's URL carrying it. A code is accepted in
its own window and the next, so about a minute; an older one, or one made for
another activity, is refused. Comparisons are constant-time.

**Member code.** A resident's own QR, which an organizer scans: the member and
community ids signed with an HMAC keyed from ``SECRET_KEY``. It does not
expire, so it can be printed on a card for a resident without a phone; it is
refused in any other community, and for a member who has been disabled.
"""

import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import WALLET_ROLES, Activity, Member, utcnow

from .problems import InvalidInput, NotFound

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 6
#: How far back an expired code is still recognised as this activity's, to say "expired".
RECOGNISED_WINDOWS = 240
MEMBER_CODE_PREFIX = "JFM"
_CHECKIN_PATH = re.compile(r"/activities/(\d+)/check-in/?$")


class CheckInCodeInvalid(InvalidInput):
    slug, title = "check-in-code-invalid", _l("Not this activity's check-in code")
    message = _l(
        "That code is not this activity's. Please check the code on the organizer's screen."
    )


class CheckInCodeExpired(InvalidInput):
    slug, title = "check-in-code-expired", _l("Check-in code expired")
    message = _l("That code has expired. Please type the code the organizer's screen shows now.")


class MemberCodeInvalid(InvalidInput):
    slug, title = "member-code-invalid", _l("Not a valid member code")
    message = _l("That is not a valid member code of this community.")


class NoMemberCode(NotFound):
    slug, title = "no-member-code", _l("No member code")
    message = _l("Only members who hold a points wallet have a member code.")


def window_seconds() -> int:
    return current_app.config["CHECKIN_WINDOW_SECONDS"]


def window_at(moment: datetime) -> int:
    return math.floor(moment.timestamp()) // window_seconds()


def window_start(window: int) -> datetime:
    return datetime.fromtimestamp(window * window_seconds(), UTC)


def _encode(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest[:8], "big")
    chars = []
    for _position in range(length):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def code_for(activity: Activity, window: int) -> str:
    message = f"jifen-checkin:{activity.community_id}:{activity.id}:{window}".encode()
    digest = hmac.new(bytes.fromhex(activity.checkin_secret), message, hashlib.sha256).digest()
    return _encode(digest, CODE_LENGTH)


@dataclass(frozen=True)
class RotatingCode:
    code: str
    window: int
    #: When the next window starts and the screen should show a new code.
    refresh_at: datetime
    #: When this code stops being accepted (the end of the next window).
    valid_until: datetime


def rotating_code(activity: Activity, at: datetime, window: int | None = None) -> RotatingCode:
    """The code to show at ``at``: the current window's, or a given recent ``window``'s.

    Only the current and the previous window may be asked for, so the screen can
    fetch the image of the code it just showed but nobody can fetch a later one.
    """
    now = window_at(at)
    if window is None:
        window = now
    if window not in (now, now - 1):
        raise InvalidInput(
            _("Only the current or the previous check-in window can be shown."),
            errors={"query": {"window": ["Not the current or the previous window."]}},
        )
    return RotatingCode(
        code=code_for(activity, window),
        window=window,
        refresh_at=window_start(window + 1),
        valid_until=window_start(window + 2),
    )


def checkin_url(activity: Activity, code: str) -> str:
    """The QR payload: the resident's check-in page, carrying the code, so that a
    phone's camera app opens it directly."""
    return url_for("web.check_in", activity_id=activity.id, code=code, _external=True)


@dataclass(frozen=True)
class Display:
    """What the organizer's screen shows, and when to fetch the next one."""

    code: str
    url: str
    window: int
    refresh_at: datetime
    valid_until: datetime
    refresh_in: float


def display(activity: Activity, code: RotatingCode) -> Display:
    return Display(
        code=code.code,
        url=checkin_url(activity, code.code),
        window=code.window,
        refresh_at=code.refresh_at,
        valid_until=code.valid_until,
        refresh_in=max(0.0, (code.refresh_at - utcnow()).total_seconds()),
    )


def normalize(typed: str) -> str:
    """Accept what people type or what a scanner reads: any case, spaces or dashes,
    or the whole check-in URL from the QR."""
    typed = typed.strip()
    if "://" in typed or typed.startswith("/"):
        return typed
    return re.sub(r"[\s\-]", "", typed).upper()


def code_from_payload(activity: Activity, given: str) -> str:
    """The code inside ``given``: a typed code, or the QR's check-in URL for this activity."""
    given = normalize(given)
    if "://" not in given and not given.startswith("/"):
        return given
    parts = urlsplit(given)
    path = _CHECKIN_PATH.search(parts.path)
    codes = parse_qs(parts.query).get("code", [])
    if path is None or not codes:
        raise CheckInCodeInvalid(_("This QR code is not an activity check-in code."))
    if int(path[1]) != activity.id:
        raise CheckInCodeInvalid(_("This QR code is for another activity."))
    return normalize(codes[0])


def _same(expected: str, given: str) -> bool:
    """Constant-time equality; bytes, so that any characters a person typed compare safely."""
    return hmac.compare_digest(expected.encode(), given.encode())


def verify_code(activity: Activity, given: str, at: datetime) -> None:
    """Accept the code of the current or the previous window, else raise a clear error."""
    code = code_from_payload(activity, given)
    now = window_at(at)
    # Both comparisons run every time: no early exit tells which window matched.
    current = _same(code_for(activity, now), code)
    previous = _same(code_for(activity, now - 1), code)
    if current or previous:
        return
    for window in range(now - 2, now - RECOGNISED_WINDOWS, -1):
        if _same(code_for(activity, window), code):
            raise CheckInCodeExpired(
                _(
                    "This check-in code has expired; scan or type the code on the "
                    "organizer's screen now."
                )
            )
    raise CheckInCodeInvalid(
        _("This is not a check-in code of this activity; check the code on the organizer's screen.")
    )


def _member_signature(community_id: int, member_id: int) -> str:
    key = hmac.new(
        current_app.config["SECRET_KEY"].encode(), b"jifen-member-code", hashlib.sha256
    ).digest()
    message = f"member:{community_id}:{member_id}".encode()
    return _encode(hmac.new(key, message, hashlib.sha256).digest(), 12)


def member_code(member: Member) -> str:
    """The member's QR payload, e.g. ``JFM.3.42.K7Q2MZ8HRW4T``."""
    signature = _member_signature(member.community_id, member.id)
    return f"{MEMBER_CODE_PREFIX}.{member.community_id}.{member.id}.{signature}"


@dataclass(frozen=True)
class MemberCode:
    community_id: int
    member_id: int
    #: The payload, when the member's own code is being shown.
    code: str | None = None


def member_code_of(member: Member) -> MemberCode:
    """A wallet holder's code; other roles earn nothing and have none."""
    if member.role not in WALLET_ROLES:
        raise NoMemberCode(
            _(
                "Member %(id)s (%(role)s) has no member code.",
                id=member.id,
                role=member.role.value,
            )
        )
    return MemberCode(member.community_id, member.id, member_code(member))


def read_member_code(given: str) -> MemberCode:
    """The ids a member code names, once its signature checks out."""
    parts = given.strip().split(".")
    invalid = MemberCodeInvalid(
        _("This is not a valid member code; ask the resident to open their code again."),
        errors={"json": {"member_code": ["Not a valid member code."]}},
    )
    if len(parts) != 4 or parts[0] != MEMBER_CODE_PREFIX:
        raise invalid
    if not (
        parts[1].isascii() and parts[1].isdigit() and parts[2].isascii() and parts[2].isdigit()
    ):
        raise invalid
    community_id, member_id = int(parts[1]), int(parts[2])
    expected = _member_signature(community_id, member_id)
    if not _same(expected, parts[3].upper()):
        raise invalid
    return MemberCode(community_id, member_id)
