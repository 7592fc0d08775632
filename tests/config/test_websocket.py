import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from config.consumers import PingConsumer


async def _talk(user) -> tuple[bool, object]:
    communicator = WebsocketCommunicator(PingConsumer.as_asgi(), "/ws/ping/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    reply = None
    if connected:
        await communicator.send_json_to({"data": "hello"})
        reply = await communicator.receive_json_from()
    await communicator.disconnect()
    return connected, reply if connected else code


@pytest.mark.django_db
def test_anonymous_websocket_is_refused():
    connected, code = async_to_sync(_talk)(AnonymousUser())
    assert not connected
    assert code == 4401


@pytest.mark.django_db
def test_authenticated_websocket_answers(staff_user):
    connected, reply = async_to_sync(_talk)(staff_user)
    assert connected
    assert reply == {"type": "pong", "echo": "hello"}
