"""The errors that are the user's to fix, not the program's.

``UserError`` marks an error in what a user gave: a flag, a config field, a data
file, a saved model, a work directory. The commands (``cli/common.run``) print
its message in one line and exit with status 2, without a traceback (``--verbose``
shows it); any other exception type is a bug and keeps its traceback. The
value errors derive from ``ValueError`` too, so ``except ValueError`` still
catches them.
"""


class UserError(Exception):
  """An error in the user's input or set-up; the message says what to change."""


class ConfigError(UserError, ValueError):
  """A config field has a value the code does not accept (the message lists the valid ones)."""


class WorkdirError(UserError, ValueError):
  """A work directory holds another run (another config or other data)."""


class WorkdirInUse(UserError, RuntimeError):
  """Another live run holds the work directory's lock (the message names it)."""
