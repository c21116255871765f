"""The portal benchmark (`bench/web.py`, same options) on PostgreSQL instead of SQLite.

Starts a private PostgreSQL 15 on 127.0.0.1 (tests/postgres.py, durable settings), gives
bench/web.py an empty database in it through HELPDESK_BENCH_DATABASE_URL, and stops it
after. Search then runs on the tsvector index instead of FTS5.

    python bench/web_pg.py [--contracts 100000] [--duration 10] [--connections 4]
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from bench import web
    from tests.postgres import start_cluster, stop_cluster

    cluster = start_cluster(durable=True)
    try:
        os.environ["HELPDESK_BENCH_DATABASE_URL"] = cluster.new_database(migrated=False)
        print(f"database: PostgreSQL 15 on 127.0.0.1:{cluster.port} (private cluster)", flush=True)
        web.main()
    finally:
        stop_cluster(cluster)


if __name__ == "__main__":
    main()
