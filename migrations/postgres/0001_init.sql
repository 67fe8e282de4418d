-- PostgreSQL catalog, version 1: the same logical schema as the embedded store at its version 5
-- (migrations/sqlite/0001-0005), in PostgreSQL's types. Content ids are 16-byte BYTEA; counts
-- are BIGINT and measures DOUBLE PRECISION, so the writer's COPY BINARY sends one type per
-- column kind. Migrations are forward-only and run under an advisory lock, in one transaction.

CREATE TABLE jobs (
    id                BIGINT PRIMARY KEY,
    kind              TEXT NOT NULL,
    paths             TEXT NOT NULL,          -- JSON array
    state             TEXT NOT NULL,
    counts            TEXT NOT NULL,          -- JSON object (protocol Counts)
    rejects_by_reason TEXT NOT NULL DEFAULT '{}',
    skipped_by_ext    TEXT NOT NULL DEFAULT '{}',
    discovery_done    BOOLEAN NOT NULL DEFAULT false,
    started           TEXT,
    finished          TEXT,
    elapsed_s         DOUBLE PRECISION NOT NULL DEFAULT 0,
    note              TEXT,
    -- The daemon that runs the job (host and data dir): at start a daemon closes only its own
    -- orphaned jobs, never those another daemon on the same catalog is running.
    owner             TEXT NOT NULL DEFAULT ''
);
-- Job ids come from here, so two daemons never hand out the same one.
CREATE SEQUENCE jobs_id_seq OWNED BY jobs.id;

CREATE TABLE files (
    id               BIGSERIAL PRIMARY KEY,
    hash             BYTEA NOT NULL UNIQUE,
    size             BIGINT NOT NULL,
    format           BIGINT NOT NULL,
    ppq              BIGINT,
    smpte_fps        DOUBLE PRECISION,
    tracks           BIGINT NOT NULL,
    channels         BIGINT NOT NULL,          -- bit n = channel n+1 used
    notes            BIGINT NOT NULL,
    drum_notes       BIGINT NOT NULL,
    events           BIGINT NOT NULL,
    duration_ticks   BIGINT NOT NULL,
    duration_s       DOUBLE PRECISION NOT NULL,
    bars             DOUBLE PRECISION,
    bpm              DOUBLE PRECISION,
    bpm_source       TEXT,
    tempo_changes    BOOLEAN NOT NULL DEFAULT false,
    time_signature   TEXT,
    key              TEXT,
    key_tonic        BIGINT,
    key_mode         TEXT,
    key_confidence   DOUBLE PRECISION,
    key_source       TEXT,
    has_drums        BOOLEAN,
    drum_parts       TEXT,                     -- comma-separated, by share
    role             TEXT,
    is_loop          BOOLEAN,
    fingerprint      BYTEA,
    parent           BYTEA,
    part_index       BIGINT,
    repairs          TEXT NOT NULL DEFAULT '',
    job              BIGINT NOT NULL,
    analysis_version BIGINT,
    bpm_initial      DOUBLE PRECISION,
    bpm_weighted     DOUBLE PRECISION,
    bpm_confidence   DOUBLE PRECISION,
    key_runner_up    TEXT,
    meter_source     TEXT,
    loop_bars        BIGINT,
    repeat_bars      BIGINT,
    quantized        BOOLEAN,
    drum_dominant    TEXT,
    drum_shares      TEXT,                     -- JSON object
    role_confidence  DOUBLE PRECISION,
    parts            TEXT,                     -- JSON array
    chords           TEXT,                     -- JSON array
    pitch_min        BIGINT,
    pitch_max        BIGINT,
    polyphony_mean   DOUBLE PRECISION,
    polyphony_max    BIGINT,
    density          DOUBLE PRECISION,
    velocity_min     BIGINT,
    velocity_max     BIGINT,
    part_track       BIGINT,
    part_channel     BIGINT,
    shape            BYTEA
);

CREATE TABLE sources (
    id          BIGSERIAL PRIMARY KEY,
    hash        BYTEA NOT NULL,
    job         BIGINT NOT NULL,
    path        TEXT NOT NULL,
    name        TEXT NOT NULL,
    clean_name  TEXT,
    tags        JSONB,                         -- JSON array of the path's tags
    raw_name    BYTEA,
    parent      BYTEA,
    UNIQUE (path, hash)
);

CREATE TABLE rejects (
    id      BIGSERIAL PRIMARY KEY,
    job     BIGINT NOT NULL,
    path    TEXT NOT NULL,
    reason  TEXT NOT NULL,
    detail  TEXT NOT NULL,
    UNIQUE (path, reason)
);

CREATE TABLE archives (
    hash    BYTEA PRIMARY KEY,
    size    BIGINT NOT NULL,
    job     BIGINT NOT NULL,
    path    TEXT NOT NULL,
    members BIGINT NOT NULL
);

CREATE TABLE exports (
    id      BIGSERIAL PRIMARY KEY,
    job     BIGINT NOT NULL,
    target  TEXT NOT NULL,
    dest    TEXT NOT NULL UNIQUE,
    hash    BYTEA NOT NULL
);
