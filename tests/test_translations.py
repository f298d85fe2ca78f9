"""The Chinese catalog covers every message in the code and templates, and its .mo is current."""

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

ROOT = Path(__file__).resolve().parent.parent
CATALOG_DIR = ROOT / "app" / "translations" / "zh" / "LC_MESSAGES"


def extracted_ids() -> set[str]:
    """What ``pybabel extract -F babel.cfg`` finds (docs/translations.md)."""
    with open(ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    return {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map
        )
    }


def read_catalog(path: Path, reader) -> Catalog:
    with open(path, "rb") as file:
        return reader(file)


@pytest.fixture(scope="module")
def zh_po() -> Catalog:
    return read_catalog(CATALOG_DIR / "messages.po", read_po)


def test_extraction_finds_the_pages_messages():
    ids = extracted_ids()
    assert {"Sign in", "Page not found", "Resident volunteer", "Hello, %(name)s"} <= ids


def test_every_message_is_translated_into_chinese(zh_po):
    problems = []
    for msgid in sorted(extracted_ids()):
        message = zh_po.get(msgid)
        if message is None:
            problems.append(f"missing: {msgid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        elif not message.string:
            problems.append(f"untranslated: {msgid!r}")
    assert not problems, "update the zh catalog (docs/translations.md):\n" + "\n".join(problems)


def test_catalog_is_not_marked_fuzzy(zh_po):
    assert not zh_po.fuzzy, "pybabel compile skips a catalog whose header is fuzzy"


def test_committed_mo_matches_the_po(zh_po, tmp_path):
    compiled = tmp_path / "messages.mo"
    with open(compiled, "wb") as file:
        write_mo(file, zh_po)
    fresh = read_catalog(compiled, read_mo)
    committed = read_catalog(CATALOG_DIR / "messages.mo", read_mo)

    def messages(catalog):
        # read_mo gives a plural message's ids and strings as lists.
        def frozen(value):
            return tuple(value) if isinstance(value, list) else value

        return {frozen(message.id): frozen(message.string) for message in catalog if message.id}

    assert messages(committed) == messages(fresh), "run pybabel compile (docs/translations.md)"


def test_app_loads_the_chinese_catalog(app):
    with app.test_request_context(), force_locale("zh"):
        assert gettext("Sign in") == "登录"
    with app.test_request_context(), force_locale("en"):
        assert gettext("Sign in") == "Sign in"
