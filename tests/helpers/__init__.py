"""What the tests share: the repo root, subprocesses with N forced CPU devices, worker scripts."""
