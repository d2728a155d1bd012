"""Errors the command line turns into a one-line message and a non-zero exit."""


class ForensicsError(Exception):
    """A failure the examiner must see: the message names the file and what went wrong."""
