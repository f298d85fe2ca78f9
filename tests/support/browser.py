"""A real browser against a live server: Debian's headless Chromium through Playwright
(never a downloaded browser), phone-sized pages, and the app served on loopback over a
database of its own, seeded with 北新社区."""

import io
import re
import threading
from contextlib import contextmanager
from pathlib import Path

from flask_migrate import upgrade
from PIL import Image
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from app import communities, qr
from app.extensions import db
from models import Role

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}

LOCALES = {"zh": "zh-CN", "en": "en-US"}
#: What the sign-in page calls its fields and button, by language.
SIGN_IN_WORDS = {
    "zh": {"username": "用户名", "password": "密码", "sign_in": "登录"},
    "en": {"username": "Username", "password": "Password", "sign_in": "Sign in"},
}


@contextmanager
def chromium(*args):
    """Headless Chromium, with ``args`` besides the usual ones; a missing browser fails
    the test, never skips it."""
    assert Path(CHROMIUM).exists(), f"the browser tests need Debian's chromium at {CHROMIUM}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args]
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def phones(count: int, locale="zh-CN"):
    """``count`` phone-sized pages, each in a browser context of its own: nothing shared."""
    with chromium() as browser:
        contexts = [browser.new_context(viewport=PHONE, locale=locale) for _phone in range(count)]
        try:
            yield tuple(context.new_page() for context in contexts)
        finally:
            for context in contexts:
                context.close()


@contextmanager
def phone_page(locale="zh-CN"):
    """One phone-sized page."""
    with phones(1, locale) as (page,):
        yield page


def sign_in(page, base, username, language="zh", password="password-1"):
    """Sign ``username`` in through the page's form, in ``language``, and wait for the
    home page."""
    words = SIGN_IN_WORDS[language]
    page.goto(base + "/login")
    page.get_by_label(words["username"]).fill(username)
    page.get_by_label(words["password"]).fill(password)
    page.get_by_role("button", name=words["sign_in"]).click()
    expect(page).to_have_url(re.compile(re.escape(base) + "/home$"))


@contextmanager
def seeding(app):
    """Migrate ``app``'s database and add 北新社区 with its fund admin 张主任 and the
    resident 王阿姨 (password ``password-1``); yield them to add more, then commit."""
    with app.app_context():
        upgrade()
        community = communities.create_community("beixin", "北新社区")
        people = [
            communities.create_member(
                community,
                username=username,
                password="password-1",
                display_name=name,
                role=role,
            )
            for username, name, role in (
                ("fund-zhang", "张主任", Role.FUND_ADMIN),
                ("wang-ayi", "王阿姨", Role.RESIDENT),
            )
        ]
        yield community, *people
        db.session.commit()


@contextmanager
def serving(app):
    """Serve ``app`` on a free loopback port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


#: The fake camera's frame size.
WIDTH, HEIGHT = 640, 480


def write_y4m(path: Path, text: str, frames: int = 5) -> None:
    """A Y4M video of the QR code of ``text``: grayscale QR scaled up on white,
    planes Y then U and V (all 128, no colour)."""
    picture = Image.open(io.BytesIO(qr.png(text))).convert("L")
    side = HEIGHT - 60
    picture = picture.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(picture, ((WIDTH - side) // 2, (HEIGHT - side) // 2))
    chroma = bytes([128]) * (WIDTH // 2 * HEIGHT // 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
