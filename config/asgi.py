"""ASGI entry point: HTTP goes to Django through a pool of threads, WebSockets to the Channels router.

HTTP requests run Django's synchronous stack (every view and middleware here is synchronous) on a
fixed pool of ``WEB_THREADS`` threads per process (a2wsgi's WSGI bridge). Django's own ASGI handler
would run each request in a thread started for it, then start another thread to join that one, and the
event loop would wait for each start instead of serving other requests. On cores shared with the
workers and the database the pool serves more webhooks per second than that handler, and several
times the trivial requests (``python -m benchmarks ingest``; figures in docs/benchmarks.md).

In front of Django, signed Meta and Evolution webhooks are accepted on the event loop itself and stored in
batches (``conversations.webhook_intake``); whatever that path does not accept reaches Django as it came.
"""

import gc
import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_wsgi_app = get_wsgi_application()  # sets Django up: the imports below need the apps loaded

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from billing.routing import websocket_urlpatterns as billing_websockets  # noqa: E402
from config.chunked_bodies import SizedBodies  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402
from conversations.webhook_intake import WebhookIntake  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WebhookIntake(
            SizedBodies(
                WSGIMiddleware(django_wsgi_app, workers=settings.WEB_THREADS),
                limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            )
        ),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*websocket_urlpatterns, *billing_websockets]))
        ),
    }
)

# What loading the project created (modules, URL patterns, settings, app registry) lives as long as the
# process: frozen, it is never walked again by the cyclic garbage collector. Unfrozen, every full
# collection would walk all of it, a pause in whichever request is running that shows in the tail of
# the response times.
gc.freeze()
