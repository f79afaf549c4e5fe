"""The Redis client: one per URL and process, for the broker's own server."""

import functools

import redis
from django.conf import settings


def redis_client(url: str | None = None) -> redis.Redis:
    """A Redis client for REDIS_URL, which may be Celery's `redis+socket://` form.

    One client (and connection pool) per URL and process.
    """
    return _client(redis_url(url))


def redis_url(url: str | None = None) -> str:
    """REDIS_URL as redis-py takes it: Celery's `redis+socket:///path` is `unix:///path`."""
    url = url or settings.REDIS_URL
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
