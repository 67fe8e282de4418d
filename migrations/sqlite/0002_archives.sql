-- Archives fully walked: importing one again is a no-op that costs one hash (issue 3).
-- `members` counts the MIDI members found at every nesting level; an archive whose walk was cut
-- short by a budget is not recorded, so a later import with other limits walks it again.
CREATE TABLE archives (
    hash    BLOB PRIMARY KEY,
    size    INTEGER NOT NULL,
    job     INTEGER NOT NULL,
    path    TEXT NOT NULL,
    members INTEGER NOT NULL
);
