"""How the ASGI server is started: one place decides whether it applies forwarded headers.

uvicorn applies ``X-Forwarded-For`` and ``X-Forwarded-Proto`` by default (``--proxy-headers``) for peers
in ``forwarded_allow_ips`` (127.0.0.1 unless told otherwise), and rewrites the client address Django
sees. A client on the same host, or behind a proxy on it, could then pick its own address and walk
past the per-IP rate limit. Here the server applies them only when ``TRUST_X_FORWARDED_FOR`` is set,
and then only for the proxies in ``FORWARDED_ALLOW_IPS``. ``manage.py runall`` runs
:func:`uvicorn_command`; the image runs gunicorn with :class:`UvicornWorker`.
"""

import os
from typing import Any

from django.conf import settings
from uvicorn_worker import UvicornWorker as _UvicornWorker

# gunicorn builds its workers in the master process, before config.asgi (which sets this) is loaded.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

ASGI_APP = "config.asgi:application"


def proxy_options() -> dict[str, Any]:
    """uvicorn's ``proxy_headers`` and ``forwarded_allow_ips``, from our settings."""
    if settings.TRUST_X_FORWARDED_FOR:
        return {"proxy_headers": True, "forwarded_allow_ips": settings.FORWARDED_ALLOW_IPS}
    return {"proxy_headers": False}


def uvicorn_command(*, python: str, host: str, port: int) -> list[str]:
    """The command line of the web server ``runall`` starts."""
    options = proxy_options()
    if options["proxy_headers"]:
        proxy = ["--proxy-headers", "--forwarded-allow-ips", options["forwarded_allow_ips"]]
    else:
        proxy = ["--no-proxy-headers"]
    # No access log: uvicorn writes it outside our masking filter (webhook URLs carry secrets); Django
    # still logs every 4xx/5xx through it.
    return [
        python,
        "-m",
        "uvicorn",
        ASGI_APP,
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        *proxy,
    ]


class UvicornWorker(_UvicornWorker):
    """gunicorn's uvicorn worker (the image's web server), with forwarded headers as :func:`proxy_options` says.

    uvicorn_worker builds uvicorn's config from gunicorn's ``forwarded_allow_ips`` and then ``CONFIG_KWARGS``,
    leaving ``proxy_headers`` at uvicorn's default (on).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.CONFIG_KWARGS = {**_UvicornWorker.CONFIG_KWARGS, **proxy_options()}
        super().__init__(*args, **kwargs)
