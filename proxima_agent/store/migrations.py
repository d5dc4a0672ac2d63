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
)
