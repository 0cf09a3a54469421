"""Atomic file writes: a hidden temporary file in the target's folder, renamed over the target.

``os.replace`` is atomic on one file system, so a reader (a browser, the next run) or a crash sees
either the old file or the complete new one, never a torn file; on an error the temporary file is
removed. Temporary names are ``.NAME.<pid>-<random>.partial`` (plus an extension where the writer
needs one, e.g. ffmpeg's ``.mp4``): hidden and without an image or .flo extension, so dataset indexers
never list them; ``is_temporary`` recognises the ones a killed run left behind.
"""
import contextlib
import os
import re
import secrets

TEMP_MARK = '.partial'
_TEMP_NAME = re.compile(r'^\..+\.\d+-[0-9a-f]{8}' + re.escape(TEMP_MARK) + r'(\.\w+)?$')


def is_temporary(name):
    """True when the file name is an AtomicPath temporary (a leftover when no writer is running)."""
    return bool(_TEMP_NAME.match(name))


class AtomicPath:
    """A temporary path next to ``path``: write it, then commit() renames it over path; discard()
    removes it. As a context manager it yields the temporary path, commits when the block succeeds
    and discards on an error. Parent folders of path are created."""

    def __init__(self, path, extension=''):
        folder, name = os.path.split(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.path = path
        self.temp = os.path.join(folder, f'.{name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_MARK}{extension}')

    def commit(self):
        os.replace(self.temp, self.path)

    def discard(self):
        if os.path.exists(self.temp):
            os.remove(self.temp)

    def __enter__(self):
        return self.temp

    def __exit__(self, kind, _value, _traceback):
        try:
            if kind is None:
                self.commit()
        finally:
            self.discard()


@contextlib.contextmanager
def atomic_open(path, fsync=False):
    """``with atomic_open(path) as handle:`` a new binary file that replaces path when the block
    succeeds (fsync=True: flushed to disk first, for files that must survive a power cut)."""
    with AtomicPath(path) as temp, open(temp, 'xb') as handle:
        yield handle
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def write_atomic(path, data, fsync=False):
    """Write bytes (or str, as UTF-8) to path atomically."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_open(path, fsync) as handle:
        handle.write(data)
