"""Files by content hash under the data dir: raw mail (zstd-compressed) and attachments.

A file is written to a temporary name and renamed, so a crash leaves either the whole
file or none; writing the same content twice is harmless. Files are put, and made
durable, before the database commit that refers to them: an orphan is possible after a
crash, a dangling reference is not. Durable means fsynced one by one, or, for a writer
of many files at once (the mail worker, per batch), one `sync()` before its commit.
"""
from __future__ import annotations

import ctypes
import hashlib
import itertools
import mimetypes
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

import zstandard

from .limits import one_line


class BlobStore:
    def __init__(self, blob_dir: Path, raw_dir: Path, *, sync_each: bool = True):
        self.blob_dir = Path(blob_dir)
        self.raw_dir = Path(raw_dir)
        # False: the caller promises to call sync() before committing rows that refer to
        # what it put (one flush for a batch instead of an fsync per file).
        self.sync_each = sync_each

    def sync(self) -> None:
        """Make every file put so far durable, whichever process wrote it."""
        for directory in {self.blob_dir, self.raw_dir}:
            if directory.is_dir():
                _sync_filesystem(directory)

    # --- attachments -------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            _write_atomic(path, data, self.sync_each)
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
            _write_atomic(path, _compressor().compress(raw), self.sync_each)
        return sha

    def get_raw(self, sha256: str) -> bytes:
        return zstandard.ZstdDecompressor().decompress(self.raw_path(sha256).read_bytes())


_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    """zstd level 3: a seventh of gzip's time on mail, and smaller; `zstdcat` reads it. One
    per thread, kept: making one costs about as much as compressing a small mail."""
    compressor = getattr(_local, "zstd", None)
    if compressor is None:
        compressor = _local.zstd = zstandard.ZstdCompressor(level=3)
    return compressor


def _write_atomic(path: Path, data: bytes, sync: bool) -> None:
    """Write to a temporary name beside `path`, then rename. The directory is made only when
    the first try finds none, and the name comes from a counter rather than from
    `tempfile.mkstemp`: the mail worker writes a file or two a message, and mkstemp's random
    names, pathlib and a mkdir per file cost more than the write."""
    directory = os.path.dirname(path)
    fd, tmp = _create_temporary(directory)
    try:
        try:
            with memoryview(data) as view:
                written = 0
                while written < len(view):
                    written += os.write(fd, view[written:])
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# In a temporary name: the process id tells apart the processes of one machine (a forked
# child included), the random part those of two containers or machines sharing the
# directory, the counter the files of one process.
_TMP_PREFIX = f".tmp-{os.urandom(4).hex()}"
_tmp_numbers = itertools.count()  # next() on it is atomic: two threads get different names
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def _create_temporary(directory: str) -> tuple[int, str]:
    """(descriptor, name) of a new file of this process's own in `directory`, made if missing."""
    while True:
        tmp = f"{directory}/{_TMP_PREFIX}-{os.getpid()}-{next(_tmp_numbers)}"
        try:
            return os.open(tmp, _CREATE, 0o600), tmp
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:  # left by a process long gone that had the same id: the next number
            pass


_syncfs: Any = None


def _sync_filesystem(directory: Path) -> None:
    """syncfs(2) on the directory's filesystem (Python has os.sync but no os.syncfs);
    os.sync() where the C library has no syncfs."""
    global _syncfs
    if _syncfs is None:
        _syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", False)
    if not _syncfs:
        os.sync()
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs {directory}: {os.strerror(errno)}")
    finally:
        os.close(fd)


# Control characters and what Windows or a shell would read as a path or a pattern.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_filename(name: str, content_type: str = "application/octet-stream", index: int | None = None) -> str:
    """A base name that is safe to store and to offer for download, for a mail's part and
    a portal upload alike: no directories, no "..", no control or bidi characters, never
    empty or hidden, at most 200 characters (the extension kept)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = one_line(_UNSAFE.sub("_", name))  # no bidi override hides the extension
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip(" ._")
    if not name:
        extension = mimetypes.guess_extension(content_type, strict=False) or ".bin"
        return f"attachment-{index}{extension}" if index is not None else f"attachment{extension}"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + "." + ext[:9]) if dot and len(ext) < 10 else name[:200]
    return name
