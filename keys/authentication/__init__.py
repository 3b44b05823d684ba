"""Authenticating a presented key: verifying it (cached per process) and what the key presented
on a request may do. Its HTTP door is ``keys.api.middleware``."""
