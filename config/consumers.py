"""A minimal authenticated WebSocket: lets deployments check that the ASGI/Channels path works."""

from channels.generic.websocket import JsonWebsocketConsumer


class PingConsumer(JsonWebsocketConsumer):
    def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            self.close(code=4401)
            return
        self.accept()

    def receive_json(self, content: dict, **kwargs) -> None:
        self.send_json({"type": "pong", "echo": content.get("data")})
