"""Everything a run keeps on disk: its lock, config/params/metrics files, version, I/O guard
and checkpoints."""
