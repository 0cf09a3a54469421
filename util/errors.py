"""Errors the user can fix, and how every script reports them: one message, exit status 2, no traceback.

A script ends with ``run_main(main)``. These end as ``error: <message>`` on stderr and exit status 2:
  - a ``UserError`` (data.readers.DataFileError: a missing or damaged dataset file; util.checkpoint.
    CheckpointError: a missing or corrupt checkpoint),
  - the same raised in a DataLoader worker (torch re-raises it in the main process wrapped, its message
    the worker's whole traceback; the original message is taken back out of it),
  - ``SystemExit`` with a message (``raise SystemExit('...')``; argparse exits 2 by itself).
Anything else is a bug and keeps its traceback. ``--debug`` anywhere on the command line (taken out
before the script parses its flags) or the environment variable NHR_DEBUG=1 shows the traceback of a
user error too.
"""
import os
import re
import sys

EXIT_USER_ERROR = 2
DEBUG_FLAG = '--debug'
DEBUG_ENV = 'NHR_DEBUG'
_WORKER_WRAPPED = re.compile(r'Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback')


class UserError(Exception):
    """A problem in the user's files or flags; str() is the whole message: the file, what is wrong, what to do."""


def _names(cls):
    return {cls.__name__}.union(*(_names(sub) for sub in cls.__subclasses__()))


def user_message(error):
    """The message to show for ``error``, or None when it is not a user error (a bug, or a SystemExit with
    a status rather than a message)."""
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, str) else None
    text = str(error)
    wrapped = _WORKER_WRAPPED.match(text)
    if wrapped:
        name = wrapped.group(1)
        return text.rsplit(f'{name}: ', 1)[-1].strip() if name in _names(UserError) else None
    return text if isinstance(error, UserError) else None


def run_main(main):
    """Call ``main()`` and exit with its return value (None = 0), a user error as described above."""
    debug = DEBUG_FLAG in sys.argv[1:] or os.environ.get(DEBUG_ENV, '0') not in ('', '0')
    sys.argv = [sys.argv[0]] + [arg for arg in sys.argv[1:] if arg != DEBUG_FLAG]
    try:
        status = main()
    except (Exception, SystemExit) as error:        # KeyboardInterrupt keeps its traceback
        message = user_message(error)
        if message is None or debug:
            raise
        print(f'error: {message}', file=sys.stderr)
        status = EXIT_USER_ERROR
    sys.exit(status)
