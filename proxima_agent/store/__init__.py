"""SQLite persistence (aiosqlite, WAL): jobs, transitions, checkpoints, consent decisions, control requests."""
