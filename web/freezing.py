"""A server process's long-lived objects kept out of the garbage collector's way (issue 18)."""
from __future__ import annotations

import gc


def freeze_for_life() -> None:
    """Move every object this process holds now out of the cyclic garbage collector's reach
    (`gc.freeze`), for a server process whose app is built: its modules, routes, templates
    and catalogues (about 114,000 objects) live as long as the process, yet every full
    collection walked them all, 60-80 ms each, once every dozen pages that make many rows
    (the reports: their p95 in-process 104 ms against 43 frozen). Objects are still freed
    when nothing refers to them; only cycles among these would stay."""
    gc.collect()
    gc.freeze()
