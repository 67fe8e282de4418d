-- Embedded catalog, version 1: DESIGN section 4, with the columns the import spine fills.
-- Later stages add columns in later migrations; migrations are forward-only.

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL,
    paths             TEXT NOT NULL,          -- JSON array
    state             TEXT NOT NULL,
    counts            TEXT NOT NULL,          -- JSON object (protocol Counts)
    rejects_by_reason TEXT NOT NULL DEFAULT '{}',
    skipped_by_ext    TEXT NOT NULL DEFAULT '{}',
    discovery_done    INTEGER NOT NULL DEFAULT 0,
    started           TEXT,
    finished          TEXT,
    elapsed_s         REAL NOT NULL DEFAULT 0,
    note              TEXT
);

CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    hash            BLOB NOT NULL UNIQUE,     -- 16-byte HighwayHash-128 content id
    size            INTEGER NOT NULL,
    format          INTEGER NOT NULL,
    ppq             INTEGER,                  -- NULL for SMPTE timing
    smpte_fps       REAL,
    tracks          INTEGER NOT NULL,
    channels        INTEGER NOT NULL,         -- bit n = channel n+1 used
    notes           INTEGER NOT NULL,
    drum_notes      INTEGER NOT NULL,
    events          INTEGER NOT NULL,
    duration_ticks  INTEGER NOT NULL,
    duration_s      REAL NOT NULL,
    bars            REAL,
    bpm             REAL,
    bpm_source      TEXT,
    tempo_changes   INTEGER NOT NULL DEFAULT 0,
    time_signature  TEXT,
    key             TEXT,
    key_tonic       INTEGER,
    key_mode        TEXT,
    key_confidence  REAL,
    key_source      TEXT,
    has_drums       INTEGER,
    drum_parts      TEXT,
    role            TEXT,
    is_loop         INTEGER,
    fingerprint     BLOB,
    parent          BLOB,
    part_index      INTEGER,
    repairs         TEXT NOT NULL DEFAULT '',
    job             INTEGER NOT NULL
);

CREATE TABLE sources (
    id          INTEGER PRIMARY KEY,
    hash        BLOB NOT NULL,
    job         INTEGER NOT NULL,
    path        TEXT NOT NULL,                -- provenance path
    name        TEXT NOT NULL,
    clean_name  TEXT,
    tags        TEXT,
    UNIQUE (path, hash)
);
CREATE INDEX sources_hash ON sources (hash);

CREATE TABLE rejects (
    id      INTEGER PRIMARY KEY,
    job     INTEGER NOT NULL,
    path    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    UNIQUE (path, reason)
);
CREATE INDEX rejects_job ON rejects (job);

CREATE TABLE exports (
    id      INTEGER PRIMARY KEY,
    job     INTEGER NOT NULL,
    target  TEXT NOT NULL,
    dest    TEXT NOT NULL,
    hash    BLOB NOT NULL
);
