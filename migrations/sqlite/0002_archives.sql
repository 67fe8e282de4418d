-- Archives fully walked: importing one again is a no-op that costs one hash (issue 3).
-- `members` counts the MIDI members found at every nesting level; an archive whose walk was cut
-- short by a budget is not recorded, so a later import with other limits walks it again.
-- The bytes of a name that was not UTF-8 (a legacy zip name decoded from a code page, a loose
-- file's non-UTF-8 name): `name` is the decoded text, this is what was on disk or in the archive.
ALTER TABLE sources ADD COLUMN raw_name BLOB;

CREATE TABLE archives (
    hash    BLOB PRIMARY KEY,
    size    INTEGER NOT NULL,
    job     INTEGER NOT NULL,
    path    TEXT NOT NULL,
    members INTEGER NOT NULL
);
