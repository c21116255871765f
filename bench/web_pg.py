"""The portal benchmark (`bench/web.py`, same options) on PostgreSQL instead of SQLite.

Starts a private PostgreSQL 15 on 127.0.0.1 (tests/postgres.py, durable settings), gives
bench/web.py an empty database in it through HELPDESK_BENCH_DATABASE_URL, and stops it
after. Search then runs on the tsvector index instead of FTS5.

    python bench/web_pg.py [--contracts 100000] [--duration 10] [--connections 4] [--reuse DIR]

With --reuse DIR (a DIR of its own, not one of web.py's SQLite data sets) the cluster lives
in DIR/pg and is kept, stopped, between runs, with the data set in its database `bench`:
built on the first run, reused (migrated) after.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    from bench import web
    from tests.postgres import start_cluster, stop_cluster

    if {"-h", "--help"} & set(sys.argv[1:]):
        web.main()  # the options; no server started
        return
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--reuse", type=Path)
    reuse = parser.parse_known_args()[0].reuse
    # --reuse DIR: the cluster lives in DIR/pg and is stopped, not removed, at the end; its
    # database `bench` holds the data set bench/web.py built (DIR/built.json), or is made again
    cluster = start_cluster(durable=True, directory=reuse / "pg" if reuse else None)
    try:
        if reuse is None:
            url = cluster.new_database(migrated=False)
        else:
            url = cluster.url("bench")
            if not (reuse / "built.json").exists():  # none yet, or a build that did not finish
                cluster.sql("DROP DATABASE IF EXISTS bench WITH (FORCE)")
                cluster.sql("CREATE DATABASE bench TEMPLATE template0")
        os.environ["HELPDESK_BENCH_DATABASE_URL"] = url
        kept = f", kept in {reuse / 'pg'}" if reuse else ""
        print(f"database: PostgreSQL 15 on 127.0.0.1:{cluster.port} (private cluster{kept})", flush=True)
        web.main()
    finally:
        stop_cluster(cluster, keep=reuse is not None)


if __name__ == "__main__":
    main()
