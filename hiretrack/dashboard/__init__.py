"""The "Waiting on you" dashboard."""
