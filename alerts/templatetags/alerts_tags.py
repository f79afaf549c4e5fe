from django import template

register = template.Library()


@register.filter
def shown_target(channel, perms_for: dict) -> str:
    """A channel's target in full for members who edit alerts, else masked."""
    return channel.target if perms_for.get("manage_alerts") else channel.masked_target
