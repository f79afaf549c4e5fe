"""The audit log: one plain function records an entry; Settings shows them."""

from studio.models import AuditEntry, Organization


def audit_record(
    *, organization: Organization, actor, action: str, target: str, details: dict | None = None
) -> AuditEntry:
    """Record that `actor` (a user, or None for the command line) did `action` to `target`."""
    return AuditEntry.objects.create(
        organization=organization,
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target=target[:300],
        details=details or {},
    )


def audit_request(request, action: str, target: str, details: dict | None = None) -> AuditEntry:
    """Record an action of the signed-in user in their current organization."""
    return audit_record(
        organization=request.org,
        actor=request.user,
        action=action,
        target=target,
        details=details,
    )


def audit_recent(*, organization: Organization, limit: int = 50) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(organization=organization).select_related("actor")[:limit]
    )
