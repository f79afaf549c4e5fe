"""A per-key fixed-window rate limit in Redis. Fails open: a broker hiccup must not
turn away events that PostgreSQL can still take."""

import time

import redis

from studio.redis import redis_client


def retry_after_if_limited(key_prefix: str, per_minute: int) -> int | None:
    """Seconds to wait when the key is over its limit this minute, else None."""
    if per_minute <= 0:
        return None
    window = int(time.time() // 60)
    name = f"studio:ratelimit:{key_prefix}:{window}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count, _ = pipe.execute()
    except redis.RedisError:
        return None
    if count <= per_minute:
        return None
    return max(1, 60 - int(time.time() % 60))
