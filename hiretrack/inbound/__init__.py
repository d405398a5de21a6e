"""Inbound mail: replies, automatic answers and bounces, matched to applications."""
