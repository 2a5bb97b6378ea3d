"""The embedded local sandbox: real OpenBao, real BIND, real OpenSSH hosts and the Hostwinds simulator,
all on loopback, all state under one directory. Used by ``invoke sandbox.*``, the demo and the tests.
"""
