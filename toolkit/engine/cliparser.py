"""The argparse parser class of `tke`: docker's messages and exit statuses for bad flags.
(Imported by cli.build_parser only, after `tke run` has launched its shim.)"""

from __future__ import annotations

import argparse
import os
import re
import sys

from toolkit.errors import UsageError, did_you_mean


class FlagError(UsageError):
    """A bad flag (unknown, missing its value, bad value): docker answers with status 125."""

    exit_code = 125


class ArgsError(UsageError):
    """Missing arguments (`tke pull` with no image): docker answers with status 1."""

    exit_code = 1


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        hint = f"see '{self.prog} --help'"
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            flags = message[len(prefix) :]
            raise FlagError(f"{self.prog}: unknown flag: {flags}", hint=hint)
        if message.startswith("the following arguments are required"):
            raise ArgsError(f"{self.prog}: {message}", hint=hint)
        verb = re.match(r"argument COMMAND: invalid choice: '([^']*)' \(choose from (.*)\)$",
                        message)  # fmt: skip
        if verb:  # docker: "'x' is not a docker command." (1), here with the closest verb
            choices = re.findall(r"'([^']*)'", verb.group(2))
            maybe = did_you_mean(verb.group(1), choices)
            raise ArgsError(
                f"{self.prog}: '{verb.group(1)}' is not a tke command",
                hint=f"{maybe} {hint}" if maybe else hint,
            )
        raise FlagError(f"{self.prog}: {message}", hint=hint)

    def _get_formatter(self):
        # argparse would import shutil (and bz2, lzma) for the terminal width at every
        # add_argument; the same width, found without it
        return self.formatter_class(prog=self.prog, width=_help_width())


def _help_width() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 80
    return (columns or 80) - 2
