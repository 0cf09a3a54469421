"""The one error the preparation raises on purpose: the message says what is wrong and what to do."""


class PrepareError(Exception):
    """A bad input or a refusal (nothing was lost); str() is the full message for the user."""
