"""Numbered schema migrations. The database's `user_version` is the number of migrations applied; append new
ones at the end, never edit an applied one."""

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their transitions, checkpoints, consent decisions, and control requests from other processes
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        state TEXT NOT NULL,
        circuit TEXT NOT NULL,
        backend TEXT,
        spec TEXT NOT NULL,
        owner_pid INTEGER,
        owner_started REAL,
        worker_pid INTEGER,
        steps_done INTEGER NOT NULL DEFAULT 0,
        steps_total INTEGER,
        stages TEXT NOT NULL DEFAULT '{}',
        paused_by TEXT,
        result_path TEXT,
        error TEXT
    );
    CREATE INDEX jobs_created ON jobs (created);
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL REFERENCES jobs (id),
        at REAL NOT NULL,
        old TEXT,
        new TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX transitions_job ON transitions (job_id);
    CREATE TABLE checkpoints (
        job_id TEXT NOT NULL REFERENCES jobs (id),
        number INTEGER NOT NULL,
        position INTEGER NOT NULL,
        total INTEGER NOT NULL,
        created REAL NOT NULL,
        path TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (job_id, number)
    );
    CREATE TABLE consent (
        id INTEGER PRIMARY KEY,
        job_id TEXT,
        at REAL NOT NULL,
        request TEXT NOT NULL,
        answer TEXT NOT NULL,
        answered_by TEXT NOT NULL
    );
    CREATE TABLE control (
        id INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL,
        at REAL NOT NULL,
        action TEXT NOT NULL,
        args TEXT NOT NULL DEFAULT '{}',
        handled REAL,
        response TEXT
    );
    CREATE INDEX control_pending ON control (job_id, handled);
    """,
    # 2: checkpoint paths relative to the data directory (a moved data directory still resumes); unanswered
    # control requests and live jobs found by index (an owner polls them ten times a second)
    """
    UPDATE checkpoints SET path = 'checkpoints/' || job_id || '/' || printf('%04d', number) || '.state'
        WHERE path LIKE '/%' OR path LIKE '_:%';
    CREATE INDEX control_unhandled ON control (job_id) WHERE handled IS NULL;
    CREATE INDEX jobs_state ON jobs (state);
    """,
    # 3: chat sessions (`proxima chat`, `proxima agent`) and what happened in them, in order: each turn's new
    # pydantic-ai messages, tool calls, usage, consent and permission decisions. A session's `updated` follows its
    # newest event (the trigger), so `--continue` finds the latest; deleting a session deletes its events.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        title TEXT,
        model TEXT NOT NULL,
        workspace TEXT NOT NULL,
        ended REAL
    );
    CREATE INDEX sessions_workspace ON sessions (workspace, updated);
    CREATE INDEX sessions_updated ON sessions (updated);
    CREATE TABLE session_events (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        at REAL NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX session_events_seq ON session_events (session_id, seq);
    CREATE TRIGGER session_events_touch AFTER INSERT ON session_events BEGIN
        UPDATE sessions SET updated = max(updated, NEW.at) WHERE id = NEW.session_id;
    END;
    """,
)
