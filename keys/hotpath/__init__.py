"""The hot path of every request made with a key: verifying it (cached per process), rate
limits, usage counters, and the middleware that applies them to ``/api/``."""
