"""How long each pass of a compilation takes, logged on `s2sad.config.LOG` (`S2SAD_LOG=info`)."""

import logging
import time

from . import config


class Stages:
    """The passes of one compilation and their times, logged on `s2sad.config.LOG`: every pass at
    DEBUG, and at INFO once the compilation has run longer than `config.SLOW` (then a summary too)."""

    def __init__(self, function, mode):
        code = getattr(function, "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        self.what = f"{mode} derivative of {getattr(function, '__qualname__', function)}{where}"
        self.start = self.last = time.perf_counter()
        self.times = []

    def done(self, stage):
        now = time.perf_counter()
        self.times.append((stage, now - self.last))
        level = logging.INFO if now - self.start > config.SLOW else logging.DEBUG
        if config.LOG.isEnabledFor(level):
            config.LOG.log(
                level,
                "%s: %s took %.2f s (%.2f s so far)",
                self.what,
                stage,
                now - self.last,
                now - self.start,
            )
        self.last = now

    def finish(self):
        total = time.perf_counter() - self.start
        level = logging.INFO if total > config.SLOW else logging.DEBUG
        if config.LOG.isEnabledFor(level):
            slowest = sorted(self.times, key=lambda item: -item[1])[:4]
            config.LOG.log(
                level,
                "compiled the %s in %.2f s (slowest: %s)",
                self.what,
                total,
                ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in slowest),
            )
