"""Celery tasks; each calls one service."""
