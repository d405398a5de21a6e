"""Requests done once: API Idempotency-Keys and the web's one-time submission tokens."""
