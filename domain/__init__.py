"""Rapport's business rules and persistence: no GraphQL, HTTP or network I/O here."""
