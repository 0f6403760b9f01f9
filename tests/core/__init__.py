"""The compiled step: noise from keys, low-rank noise, HLO traffic, non-finite returns."""
