"""``--help`` that shows each option's default, for the patients' and physicians' commands."""

from __future__ import annotations

import argparse


class ShowDefaults(argparse.HelpFormatter):
    """Append "(default: X)" to an option's help when it has a default worth showing
    (not None, not a switch's False) and the help does not state one already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default in (None, False, argparse.SUPPRESS)
            or "default" in text
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` whose help shows the defaults."""
    return argparse.ArgumentParser(prog=prog, description=description, formatter_class=ShowDefaults)
