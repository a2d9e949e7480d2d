"""The provider catalogue shipped with the package (`provider_replies.json`), read once.

Offline by design: the platform often has no internet access, and a test must explain
Microsoft's and Google's replies all the same. A release updates the file and its
`version`; `domain/providers.py` holds the rules that read it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from smtp_profile.domain.providers import Catalogue, parse_catalogue

FILE = "provider_replies.json"


@cache
def catalogue() -> Catalogue:
    """The shipped catalogue; a broken file is a packaging fault and fails loudly."""
    text = resources.files(__name__).joinpath(FILE).read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text))
