"""Metering every request made with a key: rate limits, usage counters (written by flusher.py's
timer thread), and the metrics they tell Prometheus."""
