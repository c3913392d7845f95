"""Finding landed files and deciding which ones are new (SEMANTICS §1: a file is ingested once,
keyed by the sha256 of its bytes)."""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orders_pipeline.warehouse import transaction

# A file still being written must not be ingested half: writers use a temporary name (a
# leading dot, or one of these suffixes) and rename it when complete.
IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress")


@dataclass(frozen=True)
class LandedFile:
    """One complete file in a source folder of the landing area."""

    path: Path
    relative: str  # POSIX path under the landing folder: the name used everywhere else
    source: str
    sha256: str
    size_bytes: int
    # Whether the bytes are valid UTF-8, found while hashing: DuckDB's reader fails on the
    # whole file otherwise, and a failed statement aborts the file's transaction, so the
    # reader is chosen before the first statement rather than after an error.
    utf8: bool = True


def is_complete(path: Path) -> bool:
    """False for hidden files and files whose name says a writer is still busy with them."""
    name = path.name
    return not name.startswith(".") and not name.lower().endswith(IN_PROGRESS_SUFFIXES)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    return fingerprint(path)[0]


def fingerprint(path: Path) -> tuple[str, bool]:
    """Hex sha256 of a file's bytes and whether they are valid UTF-8, in one pass of 1 MiB
    blocks (the incremental decoder carries a character split across two blocks)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            utf8 = utf8 and _decodes(decoder, block)
    return digest.hexdigest(), utf8 and _decodes(decoder, b"", final=True)


def _decodes(decoder: codecs.IncrementalDecoder, block: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(block, final)
    except UnicodeDecodeError:
        return False
    return True


def candidate_paths(landing_dir: Path, source: str, suffixes: tuple[str, ...]) -> list[Path]:
    """Complete files with a known suffix in ``<landing>/<source>/`` (recursively), sorted by
    their path under the landing folder (SEMANTICS §3: files first seen in the same run are
    taken in lexicographic order of that path)."""
    folder = landing_dir / source
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.rglob("*")
        if p.is_file() and is_complete(p) and p.name.lower().endswith(suffixes)
    ]
    return sorted(found, key=lambda p: p.relative_to(landing_dir).as_posix())


@dataclass(frozen=True)
class FileScan:
    """What a look at one source folder found."""

    new: list[LandedFile]
    already_loaded: list[LandedFile]
    unreadable: list[tuple[str, str]]  # (path under the landing folder, error): retried next run


def new_files(
    con: duckdb.DuckDBPyConnection, landing_dir: Path, source: str, suffixes: tuple[str, ...]
) -> FileScan:
    """Split the source folder's files into new, already loaded and unreadable. A file is new
    when no earlier load of the same source had the same sha256; the same bytes under two
    names in one run are loaded once. A file that cannot be read is reported, not fatal."""
    loaded = {
        row[0]
        for row in con.execute(
            "select distinct sha256 from audit.loads where source = ?", [source]
        ).fetchall()
    }
    # sha256 of files as they were when last hashed: a loaded file whose size and mtime have
    # not changed since is not read again (rsync's and make's rule), so a run does not re-read
    # the whole history of the landing folder
    known = {
        (file, size, mtime): sha256
        for file, size, mtime, sha256 in con.execute(
            "select file, size_bytes, mtime_ns, sha256 from state.file_stats where source = ?",
            [source],
        ).fetchall()
    }
    fresh: list[LandedFile] = []
    seen: list[LandedFile] = []
    unreadable: list[tuple[str, str]] = []
    hashed: list[tuple[str, str, int, int, str]] = []
    for path in candidate_paths(landing_dir, source, suffixes):
        relative = path.relative_to(landing_dir).as_posix()
        try:
            stat = path.stat()
            cached = known.get((relative, stat.st_size, stat.st_mtime_ns))
            if cached is not None and cached in loaded:
                sha256, utf8 = cached, True  # loaded before: never read again
            else:
                sha256, utf8 = fingerprint(path)
                hashed.append((source, relative, stat.st_size, stat.st_mtime_ns, sha256))
            landed = LandedFile(
                path=path,
                relative=relative,
                source=source,
                sha256=sha256,
                size_bytes=stat.st_size,
                utf8=utf8,
            )
        except OSError as error:
            unreadable.append((relative, f"{type(error).__name__}: {error.strerror or error}"))
            continue
        if landed.sha256 in loaded:
            seen.append(landed)
        else:
            loaded.add(landed.sha256)
            fresh.append(landed)
    _remember_hashes(con, hashed)
    return FileScan(new=fresh, already_loaded=seen, unreadable=unreadable)


def _remember_hashes(
    con: duckdb.DuckDBPyConnection, hashed: list[tuple[str, str, int, int, str]]
) -> None:
    """Record the sha256 of each file hashed, at its size and mtime (one row per path). Only
    a cache: whether a file is new is still decided by ``audit.loads``."""
    if not hashed:
        return
    with transaction(con):
        con.executemany(
            "delete from state.file_stats where source = ? and file = ?",
            [(source, file) for source, file, *_ in hashed],
        )
        con.executemany("insert into state.file_stats values (?, ?, ?, ?, ?)", hashed)


def next_file_seq(con: duckdb.DuckDBPyConnection) -> int:
    """The next free file sequence number (global across sources)."""
    row = con.execute("select coalesce(max(file_seq), 0) + 1 from audit.loads").fetchall()[0]
    return int(row[0]) if row else 1
