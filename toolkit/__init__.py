"""Shared core of the toolkit: the error hierarchy, secret redaction and input validation.

Everything here is plain Python with no knowledge of Pulumi or invoke.
"""
