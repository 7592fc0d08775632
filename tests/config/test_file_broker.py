"""The embedded broker: kombu's filesystem transport, each message written whole before a worker sees it."""

import json
import os
import threading

import pytest
from celery import current_app
from django.conf import settings
from kombu import Connection

from config import file_broker


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "processed").mkdir()
    return tmp_path


def _connection(folder) -> Connection:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(folder / "processed"),
    }
    return Connection("filesystem://", transport=file_broker.Transport, transport_options=options)


def test_the_embedded_defaults_run_celery_on_this_transport():
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("a broker server is configured (REDIS_URL)")
    with current_app.connection_for_write() as connection:
        assert connection.transport_cls == "config.file_broker:Transport"
        assert isinstance(connection.transport, file_broker.Transport)


def test_messages_are_read_back_whole(folder):
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("work.jobs")
        for n in range(3):
            queue.put({"n": n, "body": "x" * 100_000})
        messages = [queue.get(timeout=1) for _ in range(3)]
        # Named by the millisecond, as kombu names them: two put within one are taken in either order.
        assert sorted(message.payload["n"] for message in messages) == [0, 1, 2]
        assert all(len(message.payload["body"]) == 100_000 for message in messages)
        for message in messages:
            message.ack()
        queue.close()
    assert [name for name in os.listdir(folder) if name != "processed"] == []


def test_no_reader_can_list_a_message_before_it_is_whole(folder, monkeypatch):
    # kombu's own _put opens the message's file under its final name, then serialises and writes into it.
    visible_while_writing = []
    serialise = file_broker.dumps

    def watching(payload):
        visible_while_writing.extend(name for name in os.listdir(folder) if name.endswith(".work.jobs.msg"))
        return serialise(payload)

    monkeypatch.setattr(file_broker, "dumps", watching)
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("work.jobs")
        queue.put({"n": 1})
        assert visible_while_writing == []
        message = queue.get(timeout=1)
        assert message.payload == {"n": 1}
        message.ack()
        queue.close()


def test_a_message_still_being_written_is_never_taken(folder):
    # What a writer leaves while it writes: a hidden part file, which no queue's name matches.
    (folder / ".1_abc.work.jobs.msg.part").write_bytes(b"")
    with _connection(folder) as connection:
        queue = connection.SimpleQueue("work.jobs")
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.2)
        queue.close()
    assert (folder / ".1_abc.work.jobs.msg.part").exists()


def test_a_reader_polling_while_writers_write_big_messages_gets_each_whole_once(folder):
    count, got, errors = 300, [], []

    def write(first: int) -> None:
        with _connection(folder) as connection:
            queue = connection.SimpleQueue("work.jobs")
            for n in range(first, count, 2):
                queue.put({"n": n, "body": "y" * 200_000})
            queue.close()

    def read() -> None:
        with _connection(folder) as connection:
            queue = connection.SimpleQueue("work.jobs")
            try:
                while len(got) < count:
                    try:
                        message = queue.get(timeout=10)
                    except queue.Empty:
                        return
                    got.append(message.payload["n"])
                    message.ack()
            except (json.JSONDecodeError, ValueError) as exc:  # what kombu's own _put let a reader see
                errors.append(exc)
            finally:
                queue.close()

    threads = [
        threading.Thread(target=read),
        threading.Thread(target=write, args=(0,)),
        threading.Thread(target=write, args=(1,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(got) == list(range(count))
