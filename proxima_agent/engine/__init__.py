"""The execution engine: jobs in worker processes, their state machine and timers, checkpoints, the resource
sentinel and the consent protocol. No LLM anywhere here."""
