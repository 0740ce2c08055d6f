"""Imported by Python at start-up in a program launched by ``spanlab run`` (see :mod:`instrumentation.autostart`)."""

from instrumentation.autostart import start

start()
