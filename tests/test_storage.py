"""Files by content hash: stored once, read back exactly, nothing half-written left."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpdesk.domain.storage import BlobStore


@pytest.mark.parametrize("sync_each", [True, False])
def test_files_are_stored_once_by_hash_and_read_back(tmp_path, sync_each):
    store = BlobStore(tmp_path / "blobs", tmp_path / "raw", sync_each=sync_each)
    a = store.put(b"attachment bytes")
    assert store.put(b"attachment bytes") == a
    raw = b"From: a@b\r\n\r\n" + bytes(range(256)) * 100
    sha = store.put_raw(raw)
    store.sync()

    assert store.get(a) == b"attachment bytes" and store.get_raw(sha) == raw
    assert store.raw_path(sha).stat().st_size < len(raw)  # compressed
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 2 and not any(p.name.startswith(".tmp-") for p in files)


def test_files_put_at_once_from_several_threads_all_arrive_whole(tmp_path):
    """Each write goes through a temporary name of its own (a counter per process): puts
    that overlap never share one, and none is left behind."""
    store = BlobStore(tmp_path / "blobs", tmp_path / "raw", sync_each=False)
    payloads = [os.urandom(64 * 1024) + i.to_bytes(2, "big") for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        hashes = list(pool.map(store.put, payloads))
        raw_hashes = list(pool.map(store.put_raw, payloads))

    assert [store.get(sha) for sha in hashes] == payloads
    assert [store.get_raw(sha) for sha in raw_hashes] == payloads
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]
