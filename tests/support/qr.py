"""Reading QR codes back, with zxing-cpp: from PNG (or a screenshot), and from the SVG
that ``app.qr`` draws."""

import io
import re

import zxingcpp
from PIL import Image, ImageDraw

#: One module of qrcode's SvgPathImage: ``M4,4H5V5H4z``.
SVG_MODULE = re.compile(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z")


def decode_png(data: bytes) -> str:
    """The text of the one QR code in a PNG (or any image Pillow reads)."""
    image = Image.open(io.BytesIO(data)).convert("L")
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, found
    return found[0].text


def decode_svg(document: str, scale: int = 8) -> str:
    """Draw the SVG's squares with Pillow, on white, then decode the picture."""
    viewbox = re.search(r'viewBox="0 0 (\d+) (\d+)"', document)
    width, height = int(viewbox[1]), int(viewbox[2])
    image = Image.new("L", (width * scale, height * scale), 255)
    draw = ImageDraw.Draw(image)
    modules = SVG_MODULE.findall(document)
    assert modules, "no QR modules in the SVG"
    for x0, y0, x1, y1 in modules:
        box = [int(x0) * scale, int(y0) * scale, int(x1) * scale - 1, int(y1) * scale - 1]
        draw.rectangle(box, fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return decode_png(out.getvalue())
