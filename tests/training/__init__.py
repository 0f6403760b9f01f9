"""The drivers: esjax.train and esjax.minimize at the API, and the preflight before a run."""
