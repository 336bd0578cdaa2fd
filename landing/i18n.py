"""The thank-you page's language (SPEC §4): negotiation and catalogs; no Flask.

Catalogs are gettext files made with Babel: `make messages` extracts
templates/thanks.html into translations/messages.pot and merges it into each
translations/<locale>/LC_MESSAGES/messages.po; `make` setup compiles the .mo
files (`pybabel compile`). A PaaS build runs only `pip install`, so a
missing or stale .mo is compiled from its .po in memory at first use:
nothing is written at run time (slugs may be read-only), and a catalog can
never be older than its source.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

log = logging.getLogger(__name__)

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"
# BCP 47 tags, as <html lang> says them; the templates are written in English.
DEFAULT = "en"
LANGUAGES = (DEFAULT, "pt-BR", "es", "fr", "de", "it", "nl", "ja")
# Portuguese without a region (or from Portugal) reads Brazilian Portuguese
# rather than English; Babel's negotiation tries "pt" for "pt-PT".
_NEGOTIABLE = {tag.lower(): tag for tag in LANGUAGES} | {"pt": "pt-BR"}


@lru_cache(maxsize=256)  # browsers send few distinct headers; bounded anyway
def negotiate(accept_language: str) -> str:
    """The language to answer in, from an Accept-Language header; never fails.

    Werkzeug parses the header (quality values, q=0 excluded) and Babel picks
    the first preferred language we have, by exact tag, then by its primary
    subtag (nl-BE → nl), as Stripe Checkout does; anything else is English.
    """
    try:
        accepted = parse_accept_header(accept_language, LanguageAccept)
        preferred = [value for value, quality in accepted if quality > 0]
        match = negotiate_locale(preferred, list(_NEGOTIABLE), sep="-")
    except Exception:  # both are lenient; but the customer has paid: English
        log.exception("Accept-Language %.100r not understood", accept_language)
        return DEFAULT
    return _NEGOTIABLE.get(match.lower(), DEFAULT) if match else DEFAULT


def catalog(language: str, directory: Path = TRANSLATIONS) -> NullTranslations:
    """The compiled catalog of one of LANGUAGES (English: the templates' own text)."""
    if language == DEFAULT:
        return NullTranslations()
    locale = language.replace("-", "_")
    po = directory / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as file:
            return Translations(file, DOMAIN)
    log.debug("compiling %s in memory (`make` compiles catalogs ahead)", po)
    with po.open("rb") as file:
        messages = read_po(file, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, messages)  # fuzzy entries left out, as pybabel compile does
    compiled.seek(0)
    return Translations(compiled, DOMAIN)
