"""Django's Redis cache with one connection pool per process instead of one per cache instance.

Django's cache instances are per thread, and the stock backend gives each instance a pool of its own:
every thread that serves requests opens its own Redis connections, and where a thread is started per
request (Django's ASGI handler) every request opens a new one, a large part of a webhook's time. One
client (and its pool) per server URL is kept here and shared by every instance; the stock backend also
builds a ``redis.Redis`` per command, copying its table of reply parsers, which costs more than the
round trip. A client is thread-safe: each command takes a connection from its pool.
"""

import functools
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_clients: dict[str, Any] = {}
_lock = threading.Lock()


class SharedPoolClient(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        url = self._servers[self._get_connection_pool_index(write)]
        client = _clients.get(url)
        if client is None:
            with _lock:
                client = _clients.get(url)
                if client is None:
                    pool = self._pool_class.from_url(url, **self._pool_options)
                    client = _clients[url] = self._client(connection_pool=pool)
        return client


class SharedPoolRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolClient


@functools.cache
def redis_client() -> redis.Redis:
    """The process's client for direct Redis work outside the cache (locks, pacing): one pool for both."""
    return redis.Redis.from_url(settings.REDIS_URL)
