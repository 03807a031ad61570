"""The log's cursor against a real PostgreSQL: a row whose transaction commits after a
later row's is read, where tailing by serial id skips it; with six concurrent writers,
every row is read once, in the same order by every reader."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from selector.store.postgres import TAIL_COLUMNS, Position, read_after
from tests.postgres import Postgres

psycopg = pytest.importorskip("psycopg")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> str:
    return postgres.url


@pytest.fixture
def table(database: str) -> str:
    name = f"events_{random.randrange(10**9)}"
    with psycopg.connect(database, autocommit=True) as c:
        c.execute(f"CREATE TABLE {name} ({TAIL_COLUMNS}, body text NOT NULL)")
        c.execute(f"CREATE INDEX ON {name} (xid, seq)")
    return name


def naive_after(conn: Any, table: str, seq: int) -> tuple[list[str], int]:
    rows = conn.execute(f"SELECT seq, body FROM {table} WHERE seq > %s ORDER BY seq", (seq,))
    got = rows.fetchall()
    return [r[1] for r in got], (got[-1][0] if got else seq)


def test_a_row_committed_after_a_later_one_is_read_where_the_serial_id_skips_it(
    database: str, table: str
) -> None:
    slow = psycopg.connect(database)  # a transaction left open after its insert
    fast = psycopg.connect(database, autocommit=True)
    reader = psycopg.connect(database, autocommit=True)
    slow.execute(f"INSERT INTO {table} (body) VALUES ('first, committed last')")
    fast.execute(f"INSERT INTO {table} (body) VALUES ('second, committed first')")

    naive, seq = naive_after(reader, table, 0)
    rows, at = read_after(reader, table, "body", Position())
    read = [body for (body,) in rows]
    assert naive == ["second, committed first"]  # the serial cursor moves past the first
    assert read == []  # ours waits for the open transaction

    slow.commit()
    more, _ = naive_after(reader, table, seq)
    assert more == []  # the serial cursor never reads "first"
    rows, _ = read_after(reader, table, "body", at)
    assert [body for (body,) in rows] == ["first, committed last", "second, committed first"]
    for c in (slow, fast, reader):
        c.close()


def test_with_six_writers_every_row_is_read_once_in_one_order(database: str, table: str) -> None:
    writers, per_writer = 6, 60
    done = threading.Event()

    def write(w: int) -> None:
        rng = random.Random(w)
        with psycopg.connect(database) as c:
            for i in range(per_writer):
                c.execute(f"INSERT INTO {table} (body) VALUES (%s)", (f"{w}-{i}",))
                threading.Event().wait(rng.random() * 0.004)  # the commit comes later
                c.commit()

    def tail(out: list[str]) -> None:
        at = Position()
        with psycopg.connect(database, autocommit=True) as c:
            while True:
                finished = done.is_set()
                rows, at = read_after(c, table, "body", at, limit=50)
                out.extend(body for (body,) in rows)
                if finished and not rows:
                    return

    orders: list[list[str]] = [[], []]
    tails = [threading.Thread(target=tail, args=(o,)) for o in orders]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in [*tails, *threads]:
        t.start()
    for t in threads:
        t.join()
    done.set()
    for t in tails:
        t.join()
    expected = {f"{w}-{i}" for w in range(writers) for i in range(per_writer)}
    for order in orders:
        assert len(order) == len(expected)  # none twice
        assert set(order) == expected  # none missed
    assert orders[0] == orders[1]  # one order for every reader
