"""Pulumi components of the tenant stack (thin wrappers over the plain-Python packages).

Importing the package scrubs every log record of the process of secrets (``toolkit.redact``): the dynamic
providers run in a process of their own, started by the engine, which imports their modules from here.
"""

from toolkit.redact import install_logging_redaction

install_logging_redaction()
