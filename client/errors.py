"""Client-side errors, each with the exit code its command returns and a message for people.

Commands catch :class:`HrmonError` at the top and print its message: no traceback for a
problem the user can fix (bad audio, a value out of bounds, server A down, a wrong key).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import wraps


class HrmonError(Exception):
    """A problem the user can act on; ``str(err)`` says what and, where known, what to do."""

    exit_code = 1


class InputError(HrmonError):
    """Bad input: unreadable audio, unusable recording, value outside its bound."""

    exit_code = 3


class ConfigError(HrmonError):
    """Missing or malformed key file, profile or device configuration."""

    exit_code = 4


class KeyMismatch(HrmonError):
    """The server's system key is not the one pinned at setup: nothing is encrypted or sent."""

    exit_code = 5


class ServerUnavailable(HrmonError):
    """Server A cannot be reached or answers 503."""

    exit_code = 6


class AuthError(HrmonError):
    """401: missing or wrong credentials or device token."""

    exit_code = 7


class ApiError(HrmonError):
    """Any other refusal by the server (403, 404, 409, 413, 422, 429): its reason is shown."""

    exit_code = 8

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


def run_command(func: Callable[[list[str]], int]) -> Callable[[Sequence[str]], int]:
    """Wrap a sub-command's ``main(argv)``: print an :class:`HrmonError` and return its code."""

    @wraps(func)
    def wrapper(argv: Sequence[str]) -> int:
        try:
            return func(list(argv))
        except HrmonError as err:
            print(f"error: {err}", file=sys.stderr)
            return err.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
