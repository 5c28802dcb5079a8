"""The one exception type for problems a user can fix (bad params, bad data, no network).

Stage scripts catch it and print its message as a single line, so users never see a stack
trace for their own mistakes; anything else is a bug and keeps its traceback.
"""


class ActbenchError(Exception):
    """A user-facing problem; ``str(err)`` is one line naming the bad value and what is allowed."""
