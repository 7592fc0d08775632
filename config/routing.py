"""WebSocket routes. Each app adds its consumers here (the live spend dashboard comes with billing)."""

from django.urls import path

from config.consumers import PingConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
]
