"""Every filter of the key list under every sort is answered by the sort's index alone: the
query that finds a page's keys reads no key row (an index-only scan of a ``key_list_*`` index),
whatever the filter, so a page costs one walk of one index at any depth. Search and the exposed
filter have indexes of their own (trigram, partial) and are not in this matrix; the disabled keys'
partial index (``key_org_disabled``) may answer ``status=disabled`` newest first, as well."""

import os
import re

import pytest
from django.db import connection

from accounts.actors import Actor
from accounts.models import Role, User
from keys import selectors
from keys.filters import KEY_SORTS
from keys.models import KeyFlag
from keys.state import KeyStatus
from tests.helpers.bulk import bulk_keys

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")),
        reason="needs DATABASE_URL pointing at PostgreSQL",
    ),
]

SORTS = [f"{d}{name}" for name in KEY_SORTS for d in ("", "-")]
FLAGS = [KeyFlag.EXPIRING_SOON, KeyFlag.ROTATION_DUE, KeyFlag.IDLE]


def filters(demo) -> list[dict]:
    creator = demo.user("advanced@acme.test")
    return [
        {},
        *({"status": status} for status in KeyStatus.values),
        *({"flag": flag} for flag in FLAGS),
        {"application": demo.incharge.pk},
        {"role": int(Role.ADMIN_API)},
        {"account": demo.north.pk},
        {"created_by": creator.pk},
        {"seen_by": creator.pk},
        {"status": "active", "application": demo.incharge.pk, "created_by": creator.pk},
    ]


def test_every_filter_under_every_sort_reads_only_the_sorts_index(demo):
    bulk_keys(
        demo.acme,
        40,
        applications=[demo.portal, demo.incharge],
        accounts=[demo.acme_root, demo.north],
        created_by=demo.user("advanced@acme.test"),
    )
    actor = Actor.for_user(User.objects.get(email="advanced@acme.test"))
    with connection.cursor() as cursor:
        # A table of 40 keys is read whole by any planner; these say "as if it were large".
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        missed = []
        for query in filters(demo):
            for sort in SORTS:
                keys = selectors.listed_keys(actor, {**query, "sort": sort}).qs
                sql, params = keys.values_list("pk", flat=True)[50:76].query.sql_with_params()
                cursor.execute(f"EXPLAIN {sql}", params)
                plan = "\n".join(row[0] for row in cursor.fetchall())
                # No sort of every match either (an incremental sort of a sort's ties is fine).
                full_sort = re.search(r"(^|->  )Sort ", plan, re.MULTILINE)
                only_index = r"Index Only Scan (Backward )?using (key_list_|key_org_disabled)"
                if not re.search(only_index, plan) or full_sort:
                    missed.append((query, sort, plan))
    assert not missed, f"{len(missed)} misses, the first: {missed[0]}"
