"""kombu's filesystem transport, with each message written whole before a worker can see it.

The embedded defaults run Celery on kombu's filesystem broker: every message is a file in one folder,
which workers list and take. kombu writes the file in place (open, lock, write), and a worker does not take
the lock before it reads, so under load a worker can take a file that is still empty and die on it
(``JSONDecodeError``: an unrecoverable error for Celery's consumer). Here a message is written under a
name no queue matches and renamed into place, which is atomic on one filesystem: a worker only ever lists
complete messages. Selected by ``CELERY_BROKER_TRANSPORT`` (the URL stays ``filesystem://``).
"""

import contextlib
import os
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload, **kwargs) -> None:
        """Put ``payload`` on ``queue``: written as a hidden file (``_get`` matches ``<id>.<queue>.msg`` after
        the first dot, so ``.<id>.<queue>.msg.part`` is never taken), then renamed to kombu's own name."""
        name = f"{round(filesystem.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
