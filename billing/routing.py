"""The billing app's WebSocket routes (config/asgi.py mounts them): the live spend dashboard's socket."""

from django.urls import path

from billing.consumers import SpendDashboardConsumer

SOCKET_PATH = "/ws/dashboard/spend/"

websocket_urlpatterns = [
    path(SOCKET_PATH.lstrip("/"), SpendDashboardConsumer.as_asgi()),
]
