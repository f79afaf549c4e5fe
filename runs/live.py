"""Live fan-out: after a batch commits, tell live pages which runs changed."""

import json
import logging

import redis

from studio.redis import redis_client

logger = logging.getLogger(__name__)


def project_channel(project_id: int) -> str:
    return f"studio:live:project:{project_id}"


def publish(project_id: int, runs: dict[str, str]) -> None:
    """Publish {run_id: status} for the runs a batch changed. Best effort: a live view
    that misses a message catches up on its next poll."""
    if not runs:
        return
    try:
        redis_client().publish(project_channel(project_id), json.dumps({"runs": runs}))
    except redis.RedisError:
        logger.warning("live publish failed for project %s", project_id)
