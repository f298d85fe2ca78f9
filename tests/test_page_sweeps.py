"""Every page of every role, swept on a 390×844 phone screen: accessibility (axe-core),
the contrast of every control and every text, Chinese pages without untranslated
English, and a layout that neither scrolls sideways nor spends more than a fifth of
the first screen on the header.

Each role's pages are found by following the links from its home page, as a person
would (at most two pages of each kind, e.g. two activity pages), and each page is
loaded once per language, with every check made on that one load.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import axe_playwright_python
import pytest
import sqlalchemy as sa
from support.browser import LOCALES, PHONE
from support.page_checks import CONTRAST
from support.site import sign_in

from app.authz import POLICY
from app.extensions import db
from models import (
    Activity,
    Attendance,
    Award,
    Community,
    Coupon,
    Donation,
    IncomeEntry,
    IssuanceRule,
    LedgerTransaction,
    Member,
    Merchant,
    MerchantGroup,
    Offer,
)

pytestmark = [pytest.mark.browser, pytest.mark.pages]

#: One demo account of each role.
ROLES = {
    "resident": "resident",
    "organizer": "organizer",
    "cashier": "cashier",
    "fund_admin": "fund",
    "platform_admin": "admin",
}

#: Links a sweep does not follow: other languages, files, the API, signing out, and
#: the root, which only sends to the home page.
NOT_PAGES = re.compile(r"^/$|^/(lang/|api/|static/|logout)|\.(csv|svg|png|json|pdf|xlsx)$")
#: Pages of one kind (the same path, numbers aside) visited per role.
PER_KIND = 1
HASHES = re.compile(r"\b[0-9a-f]{16,}\b")
PATHS = re.compile(r"(?:/[\w.-]+)+")
#: Words allowed on a Chinese page: the brand, the other language's name, code names.
ALLOWED_WORDS = {"Jifen", "English", "QR", "CSV", "PDF", "Stripe", "Excel"}

#: axe-core as the axe-playwright-python package ships it, loaded into every page of a
#: sweep's browser context once (instead of sent again for each page).
AXE = Path(axe_playwright_python.__file__).with_name("axe.min.js")
#: Every rule axe runs by default; only the violations come back.
AXE_RUN = "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"

LAYOUT = """() => ({
  header: document.querySelector(".site-header").getBoundingClientRect().height,
  scrollWidth: document.documentElement.scrollWidth,
  width: window.innerWidth,
})"""


@dataclass
class Sweep:
    pages: list[str] = field(default_factory=list)
    axe: dict[str, list[str]] = field(default_factory=dict)
    contrast: dict[str, list[str]] = field(default_factory=dict)
    english: dict[str, list[str]] = field(default_factory=dict)
    layout: dict[str, dict] = field(default_factory=dict)


def data_strings(site) -> list[str]:
    """Names and codes the community entered: they are shown as written."""

    def query():
        columns = (
            Member.display_name,
            Member.username,
            Merchant.name,
            Merchant.category,
            Merchant.address,
            Merchant.opening_hours,
            Activity.title,
            Activity.place,
            Activity.description,
            Attendance.excluded_reason,
            IssuanceRule.name,
            MerchantGroup.name,
            Offer.title,
            Offer.description,
            Award.reason,
            LedgerTransaction.memo,
            Community.name,
            Community.slug,
            Coupon.code,
            IncomeEntry.reference,
            IncomeEntry.note,
            Donation.donor_name,
            Donation.message,
        )
        found = set()
        for column in columns:
            found.update(value for value in db.session.scalars(sa.select(column).distinct()))
        return found - {None, ""}

    # The audit log names each action by its code in the authorization table.
    strings = site.read(query) | set(POLICY)
    return sorted(strings, key=len, reverse=True)


def english_words(text: str, data: list[str]) -> list[str]:
    for value in data:
        text = text.replace(value, " ")
    text = HASHES.sub(" ", text)  # a closed month's SHA-256 is a code, not words
    text = PATHS.sub(" ", text)  # so is a request's path in the audit log
    words = re.findall(r"[A-Za-z]*[a-z][A-Za-z]*", text)
    return sorted({word for word in words if len(word) > 1 and word not in ALLOWED_WORDS})


def links(page) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "nodes => nodes.map(n => n.getAttribute('href'))")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not NOT_PAGES.search(parts.path) and "partial=" not in path:
            found.append(path)
    return found


def kind_of(path: str) -> str:
    return re.sub(r"\d+", "N", path.split("?")[0])


def sweep_role(chromium, site, username, language, data, checked, sessions) -> Sweep:
    """Follow the role's links from its home page and check each page once. ``checked``
    holds the kinds of page already checked for another role in this language: their
    content is the same, so axe runs once per kind, and in English (where only the
    layout is checked) such a page is not loaded again. Each role's home page, with its
    own header and navigation, is always checked."""
    context = chromium.new_context(
        viewport=PHONE, locale=LOCALES[language], storage_state=sessions.get(username)
    )
    context.add_init_script(path=AXE)
    page = context.new_page()
    result = Sweep()
    try:
        if username not in sessions:
            sign_in(page, site.url, username, language)
            sessions[username] = context.storage_state()
        kinds = Counter()
        queue, seen = ["/home"], set()
        while queue:
            path = queue.pop(0)
            kind = kind_of(path)
            if path in seen or kinds[kind] >= PER_KIND:
                continue
            if language == "en" and path != "/home" and (language, kind) in checked:
                continue
            seen.add(path)
            kinds[kind] += 1
            response = page.goto(site.url + path)
            assert response.ok, f"{username} {path}: {response.status}"
            result.pages.append(path)
            result.layout[path] = page.evaluate(LAYOUT)
            if language == "en":
                checked.add((language, kind))
            if language == "zh":
                result.contrast[path] = page.evaluate(CONTRAST)
            if language == "zh" and (path == "/home" or kind not in checked):
                checked.add(kind)
                found = page.evaluate(AXE_RUN)
                result.axe[path] = [
                    f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
                    for v in found
                    if v["impact"] in ("serious", "critical")
                ]
            if language == "zh":
                result.english[path] = english_words(page.inner_text("body"), data)
            queue.extend(links(page))
    finally:
        context.close()
    return result


@pytest.fixture(scope="module")
def sweeps(chromium, site):
    """Each role's pages, swept in Chinese (every check) and in English (layout)."""
    data = data_strings(site)
    checked: set[str] = set()
    sessions: dict[str, dict] = {}
    return {
        (role, language): sweep_role(chromium, site, username, language, data, checked, sessions)
        for role, username in ROLES.items()
        for language in ("zh", "en")
    }


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_its_pages(sweeps, role):
    """The sweep itself found the role's pages (so the checks below cover something)."""
    pages = sweeps[(role, "zh")].pages
    expected = {
        "resident": {"/home", "/activities", "/coupons", "/pay-code", "/merchants", "/my-code"},
        "organizer": {"/home", "/activities", "/activities/new"},
        "cashier": {"/home", "/pos", "/pos/history"},
        "fund_admin": {"/home", "/admin/members", "/admin/awards", "/admin/merchants"},
        "platform_admin": {"/home", "/platform/communities"},
    }[role]
    assert expected <= set(pages)
    assert len(pages) >= len(expected)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_passes_axe(sweeps, role):
    """No axe-core violation of impact serious or critical on any page of the role."""
    found = {path: v for path, v in sweeps[(role, "zh")].axe.items() if v}
    assert not found


@pytest.mark.parametrize("role", ROLES)
def test_every_control_and_text_stands_out(sweeps, role):
    """Guards defect 1 (white-on-white buttons: 撤销, 下载 CSV, 返回, stop camera): every
    control keeps a 3:1 edge and every text 4.5:1 against what is really behind it."""
    found = {path: v for path, v in sweeps[(role, "zh")].contrast.items() if v}
    assert not found


@pytest.mark.parametrize("role", ROLES)
def test_chinese_pages_have_no_untranslated_text(sweeps, role):
    """Guards defect 6: a Chinese page shows no English beyond names and codes."""
    found = {path: words for path, words in sweeps[(role, "zh")].english.items() if words}
    assert not found


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways_and_the_header_is_small(sweeps, role, language):
    """Guards defect 8: at 390 px no page is wider than the screen, and the header and
    navigation take at most a fifth of the first screen."""
    layout = sweeps[(role, language)].layout
    too_wide = {path: box for path, box in layout.items() if box["scrollWidth"] > box["width"]}
    too_tall = {
        path: box["header"] for path, box in layout.items() if box["header"] > 0.2 * PHONE["height"]
    }
    assert not too_wide
    assert not too_tall
