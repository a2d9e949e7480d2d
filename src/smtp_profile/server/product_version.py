"""`x-keyfactor-product-version` on every answer: the Keyfactor Command this service stands in for.

Keyfactor Command sends this header on its answers, and clients read it:
keyfactor-auth-client-go keeps it as the Command version while it builds a client
(falling back to its own default, 10.5.0.0, when it is absent), and kfutil turns some
features off by its major number. So the service names the Command release whose API it
speaks: version 25, whose published OpenAPI files its SMTP shapes (versions 1 and 2) were
compared with. It is written as Command writes it, four numbers; the minor, patch and
build are 0 because the service claims no particular patch level.

A pure ASGI middleware, outermost, so that answers from the fast GET path, the static
files, the docs and every error carry it too.
"""

from __future__ import annotations

PRODUCT_VERSION_HEADER = "x-keyfactor-product-version"
PRODUCT_VERSION = "25.0.0.0"
"""The Keyfactor Command version this service is compatible with (see the module's text)."""
