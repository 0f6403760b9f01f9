"""Scale-out: the sharded generation, the device mesh, multi-host jobs, and the HLO proof of
what crosses devices."""
