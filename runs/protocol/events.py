"""One decoded event object, checked whole: storable, within the size limit, and as the
protocol's Structs (`runs.protocol.schema`) define it."""

from runs.protocol.codec import _utc_now
from runs.protocol.schema import object_event
from runs.protocol.storable import _check_size, _check_storable
from runs.protocol.types import Event, _Context


def validate_event(obj: object) -> Event:
    """Validate one decoded event object, raising `EventError` on the first problem."""
    _check_storable(obj)
    _check_size(obj)
    return object_event(obj, _Context.at(_utc_now()))
