"""The one camera decoder behind every scanning page (the till, the organizer's check-in).

The page (``static/scanner.js``) grabs camera frames with ``getUserMedia`` and
decodes them itself where the browser has ``BarcodeDetector``; elsewhere it
posts a frame here and the server reads the QR code with zxing-cpp.
"""

import io

import zxingcpp
from flask import g, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from PIL import Image, UnidentifiedImageError

from ..authz import Scope, permits
from ..problems import Forbidden, InvalidInput, Problem, handle_problem
from . import blp

#: Camera frames larger than this are refused before decoding.
MAX_FRAME_BYTES = 2 * 1024 * 1024

#: Who scans with a camera: cashiers at the till, organizers checking residents in.
SCANNING_ACTIONS = ("redemption.create", "attendance.review")


def read_qr(data: bytes) -> str | None:
    """The text of the QR code in one camera frame, or None when it shows none."""
    if not data or len(data) > MAX_FRAME_BYTES:
        raise InvalidInput(_("Send one camera frame (an image of at most 2 MB)."))
    try:
        image = Image.open(io.BytesIO(data)).convert("L")
    except (UnidentifiedImageError, OSError) as error:
        raise InvalidInput(_("The frame is not an image.")) from error
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return found[0].text if found else None


@blp.post("/scan")
@login_required
def scan_frame():
    """Decode the QR code in one camera frame; ``text`` is null when there is none."""
    member = g.actor = current_user._get_current_object()
    try:
        scope = Scope(member.community_id)
        if not any(permits(member, action, scope) for action in SCANNING_ACTIONS):
            raise Forbidden(_("Only cashiers and organizers scan with the camera here."))
        data = request.files["frame"].read() if "frame" in request.files else request.get_data()
        return jsonify({"text": read_qr(data)})
    except Problem as error:
        return handle_problem(error)
