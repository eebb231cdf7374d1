"""What the tests and the benchmarks share: the fake Bot API, the bot harnesses (in-process and as a process), the
cluster's redis-server and worker harness, clip and disk helpers, and the pretrained test weights."""
