"""A faithful local simulator of the Hostwinds Cloud API (sandbox and tests only).

- ``server.SimulatorServer``: in-process threaded HTTP server (``start()`` / ``stop()``, context manager).
- ``process.SimulatorProcess``: the same as a background process (``python -m sandbox.hostwinds_sim``).
- ``process.AdminClient``: fault injection and state tweaks over the admin endpoint (``/_sim/...``).
- ``settings.SimSettings``: every [guess] of the contract (``settings.GUESSES``) and every delay is a setting; what the
  sources show is built in (hostwinds/CONTRACT.md).
- ``faults.Fault``: injected failures (HTTP 5xx, slow replies, auth failure, lost create reply,
  success-but-nothing-happens, rate limiting), each for N calls and optionally one action.
Instances are real SSH hosts (``sandbox.vps_host``) unless ``SimSettings.vps_hosts`` is False.
"""
