"""Environments: the protocol, adapters, your own env, env objects from libraries."""
