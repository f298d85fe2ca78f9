"""QR codes for coupons, pay-codes and check-in, as PNG and SVG (the ``qrcode`` package).

Error correction M throughout: a phone screen held up to a scanner, a little
glare or a crack in the glass still reads. The version (size) is the smallest
that holds the data; coupon tokens are kept short enough for version 10 or less.
"""

import io

import qrcode
from markupsafe import Markup, escape
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

#: Quiet zone around the code, in modules; the standard asks for four.
BORDER = 4
PNG = "image/png"
SVG = "image/svg+xml"


def qr_code(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=BORDER)
    code.add_data(data)
    code.make(fit=True)
    return code


def png(data: str, box_size: int = 8) -> bytes:
    code = qr_code(data)
    code.box_size = box_size
    out = io.BytesIO()
    code.make_image(image_factory=PilImage).save(out, format="PNG")
    return out.getvalue()


def svg(data: str) -> str:
    """A standalone SVG document: one path of unit squares in a ``viewBox``."""
    out = io.BytesIO()
    qr_code(data).make_image(image_factory=SvgPathImage).save(out)
    return out.getvalue().decode()


def image(data: str, fmt: str) -> tuple[bytes, str]:
    """``(body, mimetype)`` for ``fmt`` 'png' or 'svg'."""
    return (png(data), PNG) if fmt == "png" else (svg(data).encode(), SVG)


def inline_svg(data: str, label: str) -> Markup:
    """The SVG for embedding in a page: no XML declaration, sized by CSS, labelled."""
    document = svg(data)
    start = document.index("<svg")
    element = document[start:]
    head, rest = element.split(">", 1)
    head = " ".join(part for part in head.split(" ") if not part.startswith(("width=", "height=")))
    # The markup is qrcode's own output; the only outside text, the label, is escaped.
    return Markup(f'{head} role="img" aria-label="{escape(label)}" class="qr">{rest}')  # noqa: S704
