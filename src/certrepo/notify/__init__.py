"""Outbound notifications: the real webhook and SMTP transports, metrics, and the scan schedule.

The I/O side of issue 9; the rules and use cases live in ``domain.notifications``, ``services.notifications``
and ``services.expiry``. Only ``app.py`` wires this package in.
"""
