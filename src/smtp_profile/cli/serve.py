"""`smtp-profile serve`: start the API.

Its options are the settings' fields (cli/options.py builds them from settings.py), so
a new setting is a new field there, with its description, and nothing here.
"""

from __future__ import annotations

import inspect

import typer

from smtp_profile import __version__
from smtp_profile.cli.app import app
from smtp_profile.cli.options import fail, read_settings, settings_options
from smtp_profile.store.secret_box import SecretKeyError


def serve(**given: object) -> None:
    """Start the API (and create the data dir, schema, key and admin user on first start).

    Example: smtp-profile serve --port 8080 --data-dir /var/lib/smtp-profile
    """
    import uvicorn

    from smtp_profile.logs import configure_logging
    from smtp_profile.runtime import Runtime, prepare
    from smtp_profile.server.app import create_app
    from smtp_profile.server.listener import server_config

    settings = read_settings(given).serving()
    configure_logging(settings.log_level)
    try:
        prepare(settings)
        runtime = Runtime.open(settings)
    except SecretKeyError as exc:
        raise fail(str(exc)) from None
    scheme = "https" if settings.tls_cert else "http"
    origin = f"{scheme}://{settings.host}:{settings.port}"
    typer.echo(f"smtp-profile {__version__}: data in {settings.data_dir.resolve()}; web page "
               f"at {origin}/, API at {origin}{settings.normalized_base_path}/SMTP, docs at "
               f"{origin}{settings.normalized_base_path}/Documentation")
    uvicorn.Server(server_config(
        create_app(runtime), settings, host=settings.host, port=settings.port,
        log_level=settings.log_level.lower(), access_log=settings.access_log,
        trusted_proxies=settings.trusted_proxies,
        ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key)).run()


serve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    settings_options(), return_annotation=None)
app.command()(serve)
