"""JSON API v1: bearer tokens, pydantic-validated requests, problem+json errors, OpenAPI 3.1."""
