"""QR images (PNG and SVG) from the ``qrcode`` package, at error correction M."""

import io

import qrcode
import qrcode.constants
import qrcode.image.svg

PNG = "image/png"
SVG = "image/svg+xml"


def _code(payload: str, **options) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, **options)
    code.add_data(payload)
    code.make(fit=True)
    return code


def png(payload: str, box_size: int = 10) -> bytes:
    out = io.BytesIO()
    _code(payload, box_size=box_size).make_image().save(out)
    return out.getvalue()


def svg(payload: str) -> bytes:
    """A scalable SVG on a white background, so it reads on any page or screen."""
    out = io.BytesIO()
    _code(payload, image_factory=qrcode.image.svg.SvgPathFillImage).make_image().save(out)
    return out.getvalue()


def image(payload: str, fmt: str) -> tuple[bytes, str]:
    """``(body, mimetype)`` for ``fmt`` 'png' or 'svg'."""
    return (png(payload), PNG) if fmt == "png" else (svg(payload), SVG)
