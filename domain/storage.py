"""Files by content hash under the data dir: raw mail (zstd-compressed) and attachments.

A file is written to a temporary name, fsynced and renamed, so a crash leaves either
the whole file or none; writing the same content twice is harmless. Files are put
before the database commit that refers to them: an orphan is possible after a crash,
a dangling reference is not.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import zstandard


class BlobStore:
    def __init__(self, blob_dir: Path, raw_dir: Path):
        self.blob_dir = Path(blob_dir)
        self.raw_dir = Path(raw_dir)

    # --- attachments -------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            _write_atomic(path, data)
        return sha

    def get(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    # --- raw messages ------------------------------------------------------------
    def raw_path(self, sha256: str) -> Path:
        return self.raw_dir / sha256[:2] / f"{sha256}.eml.zst"

    def put_raw(self, raw: bytes, sha256: str | None = None) -> str:
        sha = sha256 or hashlib.sha256(raw).hexdigest()
        path = self.raw_path(sha)
        if not path.exists():
            # zstd level 3: a seventh of gzip's time on mail, and smaller; `zstdcat` reads it.
            _write_atomic(path, zstandard.ZstdCompressor(level=3).compress(raw))
        return sha

    def get_raw(self, sha256: str) -> bytes:
        return zstandard.ZstdDecompressor().decompress(self.raw_path(sha256).read_bytes())


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
