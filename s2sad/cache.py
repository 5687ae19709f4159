"""Every cache of the compiler in one place, and one `clear()` that forgets them all.

The dictionaries live here; the modules that fill them hold a reference. Memos kept beside their
data register how to forget them with `on_clear` (the shape analysis, the rule templates, the call
rules, source files parsed for lambdas, the keys of nested transforms, the numba targets, the
run-time library's index analysis, registered by the pipeline since the run-time library imports
nothing of the compiler). tests/test_caches.py finds every module-level store and checks it.

>>> COMPILED["example"] = 1
>>> clear()
>>> COMPILED
{}

Generated derivatives are also kept on disk, so that another process skips generating them
(`s2sad.pipeline` decides what goes in and how a key is made). One entry is one text file: a
first line of JSON (the format, the full key, the sha256 of the body, what is needed to rebuild
the namespace), then the generated source. An entry is read only if all of these check out; a
truncated, corrupted or foreign file is ignored and written again. Nothing is unpickled.

>>> import tempfile, os
>>> previous, os.environ["S2SAD_CACHE_DIR"] = os.environ.get("S2SAD_CACHE_DIR"), tempfile.mkdtemp()
>>> write_entry("derivatives", "ab" * 32, {"mode": "grad"}, "def f_grad(x):\\n    return 1.0\\n")
True
>>> read_entry("derivatives", "ab" * 32)
({'mode': 'grad'}, 'def f_grad(x):\\n    return 1.0\\n')
>>> read_entry("derivatives", "cd" * 32) is None
True
>>> info()["entries"], clear_disk(), info()["entries"]
(1, 1, 0)
>>> del os.environ["S2SAD_CACHE_DIR"]
>>> if previous:
...     os.environ["S2SAD_CACHE_DIR"] = previous
"""

import hashlib
import itertools
import json
import os
import sys
import tempfile
import time

COMPILED = {}  # s2sad.pipeline: (code, closure, mode, argnums, kinds, ...) -> Compiled
TRANSFORMS = {}  # s2sad.api: (mode, code object, argument types) -> compiled pieces
MATERIALIZED = {}  # s2sad.frontend.nested: a transform's derivative code as a function
CALL_DERIVATIVES = {}  # s2sad.pipeline: derivatives of calls that are not inlined, compiled at run time
_CLEARERS = []


def on_clear(forget):
    """Register `forget()`, called by `clear()` (returns it: usable as a decorator)."""
    _CLEARERS.append(forget)
    return forget


def clear():
    """Forget every compiled derivative and every memo, so that the next compilation costs what a
    first one does. The disk cache is kept (another process may be reading it): `clear_disk()`
    empties it."""
    for table in (COMPILED, TRANSFORMS, MATERIALIZED, CALL_DERIVATIVES):
        table.clear()
    for forget in _CLEARERS:
        forget()


# -- the disk cache -----------------------------------------------------------------------------

FORMAT = 1  # the entry format; a file of another format is ignored (and rewritten)
KINDS = ("derivatives", "numba")  # one folder per kind of entry under the cache directory
_OFF = ("off", "0", "false", "no")
DEFAULT_LIMIT_MB = 500  # the size the disk cache is trimmed to stay under (`S2SAD_CACHE_MAX_MB`)
TRIM_EVERY = 32  # a process looks at the cache's size at its first write, then every TRIM_EVERY writes,
TRIM_INTERVAL = 600.0  # and only when no process has looked for this many seconds (the `.trimmed` stamp)
_WRITES = itertools.count()


def root():
    """The cache directory: `$S2SAD_CACHE_DIR`, else the platform's user cache directory
    (`$XDG_CACHE_HOME/s2sad` or `~/.cache/s2sad` on Linux, `~/Library/Caches/s2sad` on macOS,
    `%LOCALAPPDATA%\\s2sad\\Cache` on Windows)."""
    given = os.environ.get("S2SAD_CACHE_DIR")
    if given:
        return given
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        return os.path.join(base, "s2sad", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/s2sad")
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "s2sad")


def directory(kind):
    """The folder of one kind of entry (`derivatives`, `numba`)."""
    return os.path.join(root(), kind)


def disk_enabled():
    """Is the disk cache of generated derivatives on? `S2SAD_CACHE=off` turns it off (nothing is
    read or written; the numba target still writes the module files numba compiles)."""
    return os.environ.get("S2SAD_CACHE", "on").strip().lower() not in _OFF


def _path(kind, key):
    return os.path.join(directory(kind), key + ".py")


def digest(text):
    """The sha256 of `text`, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_entry(kind, key):
    """(meta, body) of the entry `key` if it is there and checks out (format, key, checksum), else
    None: a damaged or foreign file is never used (the next write replaces it)."""
    try:
        with open(_path(kind, key), encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    first, newline, body = text.partition("\n")
    if not newline or not first.startswith("# "):
        return None
    try:
        header = json.loads(first[2:])
    except ValueError:
        return None
    if (
        not isinstance(header, dict)
        or header.get("format") != FORMAT
        or header.get("key") != key
        or header.get("sha256") != digest(body)
        or not isinstance(header.get("meta"), dict)
    ):
        return None
    try:
        os.utime(_path(kind, key))  # used now: the last to go when the cache is trimmed
    except OSError:
        pass
    return header["meta"], body


def write_entry(kind, key, meta, body):
    """Store an entry: written to a temporary file in the same folder, then renamed over the
    entry's name (`os.replace` is atomic), so a reader sees a whole entry or none, and two
    processes writing one key at once leave one of their (equal) entries. False if the folder
    cannot be written (the cache is then only in memory)."""
    header = json.dumps({"format": FORMAT, "key": key, "sha256": digest(body), "meta": meta}, sort_keys=True)
    folder = directory(kind)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("# " + header + "\n" + body)
            os.replace(temporary, _path(kind, key))
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return False
    if next(_WRITES) % TRIM_EVERY == 0 and _trim_due():
        trim()
    return True


def _trim_due():
    """Has no process looked at the cache's size for TRIM_INTERVAL seconds? (Then this one will: the
    stamp is touched. Looking reads every file's size: tens of milliseconds for thousands of entries.)"""
    stamp = os.path.join(root(), ".trimmed")
    try:
        if time.time() - os.stat(stamp).st_mtime < TRIM_INTERVAL:
            return False
    except OSError:
        pass
    try:
        with open(stamp, "a"):
            pass
        os.utime(stamp)
    except OSError:
        return False
    return True


def limit_bytes():
    """The size the disk cache stays under: `$S2SAD_CACHE_MAX_MB` megabytes (default 500), None for
    no limit (0 or less)."""
    try:
        megabytes = float(os.environ.get("S2SAD_CACHE_MAX_MB", DEFAULT_LIMIT_MB))
    except ValueError:
        megabytes = DEFAULT_LIMIT_MB
    return int(megabytes * 1_000_000) if megabytes > 0 else None


def trim(limit=None):
    """When the cache holds more than `limit` bytes (default `limit_bytes()`), remove the files used
    longest ago (an entry read counts as a use) until it holds at most 80% of it; returns how many
    were removed. Files being written (`.tmp-*`) are left alone; an entry removed here that another
    process is about to read is simply generated again."""
    limit = limit_bytes() if limit is None else limit
    if not limit:
        return 0
    files = []
    for _, path in _entries():
        if os.path.basename(path).startswith(".tmp-"):
            continue
        try:
            status = os.stat(path)
        except OSError:
            continue
        files.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = 0
    if total <= limit:
        return 0
    for _, size, path in sorted(files):
        if total <= 0.8 * limit:
            break
        try:
            os.unlink(path)
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


def _entries(kinds=KINDS):
    for kind in kinds:
        for folder, _, names in os.walk(directory(kind)):  # (numba keeps its machine code in __pycache__)
            for name in names:
                yield kind, os.path.join(folder, name)


def info():
    """What the disk cache holds: its directory, whether it is on, and per kind the number of
    entries and their total size in bytes."""
    per_kind = {kind: {"entries": 0, "bytes": 0} for kind in KINDS}
    for kind, path in _entries():
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        per_kind[kind]["entries"] += 1
        per_kind[kind]["bytes"] += size
    return {
        "directory": root(),
        "enabled": disk_enabled(),
        "limit_bytes": limit_bytes(),
        "entries": sum(k["entries"] for k in per_kind.values()),
        "bytes": sum(k["bytes"] for k in per_kind.values()),
        "kinds": per_kind,
    }


def clear_disk(kinds=KINDS):
    """Remove the disk cache's entries (of `kinds`, default all); returns how many files were
    removed. Only files inside the cache's own folders are touched."""
    removed = 0
    for _, path in list(_entries(kinds)):
        try:
            os.unlink(path)
            removed += 1
        except OSError:
            pass
    return removed
