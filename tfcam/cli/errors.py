"""What the command line reports as one line and an exit status, not a traceback."""


class UsageError(Exception):
    """A mistake in what the user asked for: its message says what and how to fix it."""


# Exceptions whose message is written for the user (tfcam's checks raise these): the command
# line prints them as one line; anything else is a bug and keeps its traceback.
USER_ERRORS = (UsageError, FileNotFoundError, ValueError, TypeError, KeyError, IndexError)
