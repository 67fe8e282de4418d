-- `name:` search on one stored column instead of two translate() expressions. The writer fills
-- `name_key` with the ASCII-lowercased name, a newline, and the ASCII-lowercased clean name
-- (`catalog/row.rs`, `name_key`). Profiling the merge showed the two trigram indexes, and
-- translate() evaluated for each of them on every inserted source, as the largest single cost
-- of a group: one index over one precomputed value indexes the trigrams the two names share
-- once. A pattern cannot match across the newline unless it holds one (the query language
-- falls back to the two columns then), so the result is the same as matching either name.

ALTER TABLE sources ADD COLUMN name_key TEXT;
UPDATE sources SET name_key =
    translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') || E'\n' ||
    translate(coalesce(clean_name, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
DROP INDEX IF EXISTS sources_name_trgm;
DROP INDEX IF EXISTS sources_clean_name_trgm;

DO $$
DECLARE
    ext_schema TEXT;
BEGIN
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX sources_name_key_trgm ON sources USING gin (name_key %I.gin_trgm_ops)', ext_schema);
    END IF;
END
$$;
