"""The one command-line convention of the package: a usage error is one line, exit status 2."""

from __future__ import annotations

import argparse

__all__ = ["OneLineParser"]


class OneLineParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose usage errors are one ``error: ...`` line on stderr
    (exit status 2) instead of the usage text; sub-parsers inherit it."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
