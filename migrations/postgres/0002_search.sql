-- What search, dupes and the writer look rows up by: hash (unique, 0001), key, bpm, role, tags,
-- parent, the duplicate tiers' fingerprints; and trigram indexes for `name:` when the server has
-- pg_trgm (a contrib extension: a server without it still works, name search then scans).

CREATE INDEX sources_hash ON sources (hash);
CREATE INDEX sources_tags ON sources USING gin (tags jsonb_path_ops);
CREATE INDEX rejects_job ON rejects (job);
CREATE INDEX files_key ON files (key_tonic, key_mode);
CREATE INDEX files_bpm ON files (bpm);
CREATE INDEX files_role ON files (role);
CREATE INDEX files_parent ON files (parent);
CREATE INDEX files_fingerprint ON files (fingerprint);
CREATE INDEX files_shape ON files (shape);
CREATE INDEX exports_hash ON exports (hash);

-- `name:` matches ASCII-lowercased names (translate, not lower(): SQLite's lower() folds ASCII
-- only, and both stores must select the same files); the indexes are on that same expression.
DO $$
DECLARE
    ext_schema TEXT;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm is not available (%): name search scans', SQLERRM;
    END;
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'pg_trgm';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX sources_name_trgm ON sources USING gin '
            '(translate(name, ''ABCDEFGHIJKLMNOPQRSTUVWXYZ'', ''abcdefghijklmnopqrstuvwxyz'') %I.gin_trgm_ops)',
            ext_schema);
        EXECUTE format('CREATE INDEX sources_clean_name_trgm ON sources USING gin '
            '(translate(coalesce(clean_name, ''''), ''ABCDEFGHIJKLMNOPQRSTUVWXYZ'', ''abcdefghijklmnopqrstuvwxyz'') %I.gin_trgm_ops)',
            ext_schema);
    END IF;
END
$$;
