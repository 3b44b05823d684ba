"""audit/models.py: audit events are append-only, in the ORM and in the database itself."""

import pytest

from audit.models import AppendOnlyError, AuditEvent
from tests.helpers.services import create

pytestmark = pytest.mark.django_db


def test_audit_events_are_append_only(demo):
    create(demo)
    event = AuditEvent.objects.get()
    event.actor_label = "someone else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().update(actor_label="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().actor_label == "advanced@acme.test"


def test_the_database_itself_refuses_to_change_audit_events(demo):
    """Raw SQL, past the ORM: a trigger refuses UPDATE (both databases) and DELETE (PostgreSQL)."""
    from django.db import DatabaseError, connection, transaction

    create(demo)
    event = AuditEvent.objects.get()
    table = AuditEvent._meta.db_table
    statements = [f"UPDATE {table} SET actor_label = 'someone else' WHERE id = %s"]
    if connection.vendor == "postgresql":
        statements.append(f"DELETE FROM {table} WHERE id = %s")
    for statement in statements:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [event.pk])
    assert AuditEvent.objects.get().actor_label == "advanced@acme.test"
