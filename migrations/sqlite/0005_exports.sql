-- Exports (issue 7) fill the `exports` table of 0001: one row per file an export wrote or found
-- already written, by its absolute path on the drive (`dest`), with the content it holds and the
-- last export job that wrote or checked it. A path holds one file: re-exports update its row.
CREATE UNIQUE INDEX exports_dest ON exports (dest);
CREATE INDEX exports_hash ON exports (hash);
