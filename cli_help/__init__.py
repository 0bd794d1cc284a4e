"""``--help`` that shows each option's default, for every ``hrmon`` command."""

from __future__ import annotations

import argparse
import copy


def _default_worth_showing(action: argparse.Action) -> bool:
    """An option's default other than None, a switch's False, [] or a suppressed one."""
    default = action.default
    hidden = default is None or default is False or default == [] or default == argparse.SUPPRESS
    return bool(action.option_strings) and not hidden


class ShowDefaults(argparse.HelpFormatter):
    """Append "(default: X)" to an option's help, also where it has no help text, unless
    the help states a default already (argparse's own ArgumentDefaultsHelpFormatter skips
    options without help and prints "default: None" and "default: False")."""

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and _default_worth_showing(action):
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not _default_worth_showing(action):
            return text
        return f"{text} (default: %(default)s)"


def parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` whose help shows the defaults (every ``hrmon`` command's)."""
    return argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=ShowDefaults
    )
