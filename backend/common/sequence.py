"""The global, monotonic change sequence shared by documents and allocations.

``next_seq()`` must be called inside the write transaction. On PostgreSQL it first takes a
transaction-scoped advisory lock, so sequence numbers are handed out — and committed — in
order: a reader can never see seq N+1 committed while N is still in flight, which is what
lets a replication checkpoint be a plain number. SQLite transactions are already serialised
(``BEGIN IMMEDIATE``). It lives in common, below every app, because allocations, team managers and
key envelopes take sequence numbers too; its SQLite counter table (``records_seqtick``) and the
PostgreSQL sequence are created by the records app's migrations.
"""

from __future__ import annotations

from django.db import connection

_ADVISORY_KEY = 0x646F6F72  # "door"
PG_SEQUENCE = "doorstep_change_seq"


def next_seq() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])
            cursor.execute(f"SELECT nextval('{PG_SEQUENCE}')")
            return int(cursor.fetchone()[0])
        cursor.execute("INSERT INTO records_seqtick DEFAULT VALUES")
        seq = int(cursor.lastrowid)
        # AUTOINCREMENT remembers the high-water mark, so old ticks can go.
        if seq % 512 == 0:
            cursor.execute("DELETE FROM records_seqtick WHERE seq < %s", [seq])
        return seq


def current_seq() -> int:
    """The highest sequence number handed out so far (0 on an empty database)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT last_value, is_called FROM {PG_SEQUENCE}")
            last_value, is_called = cursor.fetchone()
            return int(last_value) if is_called else 0
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records_seqtick'")
        row = cursor.fetchone()
        return int(row[0]) if row else 0


def next_seqs(count: int) -> list[int]:
    """``count`` consecutive-in-order sequence numbers in one round trip (same lock as next_seq)."""
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_KEY])
            cursor.execute(f"SELECT nextval('{PG_SEQUENCE}') FROM generate_series(1, %s)", [count])
            return sorted(int(row[0]) for row in cursor.fetchall())
        cursor.executemany("INSERT INTO records_seqtick DEFAULT VALUES", [()] * count)
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = 'records_seqtick'")
        last = int(cursor.fetchone()[0])
        return list(range(last - count + 1, last + 1))
