-- The library (issue 5): split parts and the musical duplicate tiers.
-- A part's row has `parent` (the file it was split from), `part_index` (its position among the
-- parent's parts, from 1) and the parent's track (0-based) and, for parts split by channel, the
-- channel (1-16). `shape` is the tier-3 fingerprint (the notes up to transposition and a uniform
-- change of tempo; `fingerprint` is tier 1).
ALTER TABLE files ADD COLUMN part_track INTEGER;
ALTER TABLE files ADD COLUMN part_channel INTEGER;
ALTER TABLE files ADD COLUMN shape BLOB;
-- A part's source row names the file it was split from (its path is the parent's, `#`, its name).
ALTER TABLE sources ADD COLUMN parent BLOB;

CREATE INDEX files_fingerprint ON files (fingerprint);
CREATE INDEX files_shape ON files (shape);
