"""The Redis client: one per URL and process, for the broker's own server."""

import functools

import redis
from django.conf import settings


def redis_client(url: str | None = None) -> redis.Redis:
    """A Redis client for REDIS_URL, which may be Celery's `redis+socket://` form.

    One client (and connection pool) per URL and process.
    """
    return _client(url or settings.REDIS_URL)


@functools.cache
def _client(url: str) -> redis.Redis:
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
