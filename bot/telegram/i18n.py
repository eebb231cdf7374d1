"""The user's language: which one, and the gettext catalogue that speaks it.

Catalogues are `locales/<lang>/LC_MESSAGES/stylebot.po` next to this module; the msgids are the English texts
(marked with `N_` in texts.py, keyboards.py and handlers.py). After changing a text, re-extract and merge:

    pybabel extract --no-default-keywords -k N_ --no-location --sort-by-file --project stylebot \
        -o bot/telegram/locales/stylebot.pot bot/telegram
    pybabel update -i bot/telegram/locales/stylebot.pot -d bot/telegram/locales -D stylebot

then translate the new or fuzzy entries (tests/test_i18n.py fails until every catalogue is complete).

No `.mo` file is stored or built: the first time a language is needed, its `.po` source is compiled in memory
with Babel (`read_po` + `write_mo`, a few milliseconds) and kept for the life of the process. That works the
same for `pip install .`, `pip install -e .`, the Docker image and CI (the `.po` files are package data), needs
no writable directory and can never serve a stale compilation.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from telegram import Update

DOMAIN = "stylebot"
LOCALES = Path(__file__).with_name("locales")
SOURCE = "en"
# Code -> the language's own name, as the /language buttons show it.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ru": "Русский",
    "es": "Español",
    "pt": "Português",
    "de": "Deutsch",
    "fa": "فارسی",
}
# Languages written right to left: the /stats chart can draw them only where matplotlib lays such text out.
RIGHT_TO_LEFT = frozenset({"fa"})


def N_(message: str) -> str:  # noqa: N802 (gettext's conventional marker name)
    """Mark a text for extraction; it is translated where it is shown, in the reader's language."""
    return message


def supported(code: str | None) -> str | None:
    """The supported language a Telegram language_code ('pt-br', 'de_AT', 'ES') stands for, or None."""
    if not code:
        return None
    primary = code.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LANGUAGES else None


def pick(*codes: str | None) -> str:
    """The first of the codes that is supported (a stored choice first, then Telegram's), else English."""
    return next((lang for lang in map(supported, codes) if lang), SOURCE)


def language_of(update: Update) -> str:
    """The language the sender's Telegram app is set to, if the bot speaks it; else English."""
    user = update.effective_user
    return pick(user.language_code if user is not None else None)


@functools.cache
def translator(lang: str) -> gettext.NullTranslations:
    """The catalogue of a language, compiled from its .po on first use; unknown languages get the English texts."""
    path = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang not in LANGUAGES or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
