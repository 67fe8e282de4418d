-- Musical analysis (issue 4): the columns `analysis/` fills beside those of version 1 (bpm,
-- bpm_source, key, key_tonic, key_mode, key_confidence, key_source, has_drums, drum_parts, role,
-- is_loop, fingerprint), and the indexes search filters on. `sources.tags` (version 1) now holds
-- a JSON array of the path's tags. Rows catalogued before this version have NULL here and
-- `analysis_version` NULL; re-analysis can find them by that.

ALTER TABLE files ADD COLUMN analysis_version INTEGER;
ALTER TABLE files ADD COLUMN bpm_initial REAL;
ALTER TABLE files ADD COLUMN bpm_weighted REAL;
ALTER TABLE files ADD COLUMN bpm_confidence REAL;
ALTER TABLE files ADD COLUMN key_runner_up TEXT;
ALTER TABLE files ADD COLUMN meter_source TEXT;
ALTER TABLE files ADD COLUMN loop_bars INTEGER;          -- length of a loop in whole bars, else NULL
ALTER TABLE files ADD COLUMN repeat_bars INTEGER;        -- period of the repeating bars, else NULL
ALTER TABLE files ADD COLUMN quantized INTEGER;
ALTER TABLE files ADD COLUMN drum_dominant TEXT;
ALTER TABLE files ADD COLUMN drum_shares TEXT;           -- JSON object: part -> share of drum notes
ALTER TABLE files ADD COLUMN role_confidence REAL;
ALTER TABLE files ADD COLUMN parts TEXT;                 -- JSON array: {track, channel, role}
ALTER TABLE files ADD COLUMN chords TEXT;                -- JSON array of chord names, in order
ALTER TABLE files ADD COLUMN pitch_min INTEGER;
ALTER TABLE files ADD COLUMN pitch_max INTEGER;
ALTER TABLE files ADD COLUMN polyphony_mean REAL;
ALTER TABLE files ADD COLUMN polyphony_max INTEGER;
ALTER TABLE files ADD COLUMN density REAL;               -- notes per second
ALTER TABLE files ADD COLUMN velocity_min INTEGER;
ALTER TABLE files ADD COLUMN velocity_max INTEGER;

-- What search filters on. (The duplicate tiers' fingerprint index comes with them.)
CREATE INDEX files_key ON files (key_tonic, key_mode);
CREATE INDEX files_bpm ON files (bpm);
CREATE INDEX files_role ON files (role);
CREATE INDEX files_parent ON files (parent);
