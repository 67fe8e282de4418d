//! The query language of `search` and `export`: one parser, rendered to each store's SQL, plus a
//! reference evaluator on catalogued files that the tests hold the SQL to.
//!
//! Terms are ANDed: `key:Am bpm:120..128 role:bass tag:trap -drum:kick loop:yes`. Fields:
//! `key` (`Am`, `F#`, `Bbm`, `F# minor`, `Eb major`), `bpm` (`120`, `120..128`, `>140`, `<=90`),
//! `bars` (same forms), `role` (`drums bass chords melody fx full`), `drum` (a drum part: `kick`,
//! `snare`, `hat` = either hat, `hat_closed`, `hat_open`, `toms`, `crash`, `ride`, `perc`), `tag`
//! (a path word: `trap`, `140bpm`, `pack:Name`), `name` (a substring of a source's name or clean
//! name; case is ignored for ASCII letters only, as SQLite's `lower` does, so both stores and the
//! evaluator agree), `loop` (`yes`/`no`), `dupes` (`hide`/`show`). A leading `-` (or `!`)
//! negates a term; a file without the value (no key, no BPM) matches the negation. Unknown fields and
//! values are errors, never ignored.

use midictl::protocol::FileInfo;
use rusqlite::types::Value;

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// A query parameter, typed as the column it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("query term {term:?}: unknown field {field:?} (fields: key bpm bars role drum tag name loop dupes)")]
    Field { term: String, field: String },
    #[error("query term {term:?}: {why}")]
    Value { term: String, why: String },
    #[error("sort by {0:?}: use bpm, key, bars, notes, duration, size or name, with - for descending")]
    Sort(String),
}

/// A numeric condition: inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    fn holds(&self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Key {
        tonic: u8,
        minor: Option<bool>,
    },
    Bpm(Range),
    Bars(Range),
    Role(String),
    /// One or more drum part names (either of them).
    Drum(Vec<&'static str>),
    Tag(String),
    Name(String),
    Loop(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub negated: bool,
    pub term: Term,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Bpm,
    Key,
    Bars,
    Notes,
    Duration,
    Size,
    Name,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub clauses: Vec<Clause>,
    pub hide_dupes: bool,
    /// The key and whether descending; catalog order (import order) when None.
    pub sort: Option<(SortKey, bool)>,
}

const ROLES: [&str; 6] = ["drums", "bass", "chords", "melody", "fx", "full"];
const DRUMS: [&str; 8] = ["kick", "snare", "hat_closed", "hat_open", "toms", "crash", "ride", "perc"];
const TONICS: [(&str, u8); 17] = [
    ("c#", 1),
    ("db", 1),
    ("d#", 3),
    ("eb", 3),
    ("f#", 6),
    ("gb", 6),
    ("g#", 8),
    ("ab", 8),
    ("a#", 10),
    ("bb", 10),
    ("c", 0),
    ("d", 2),
    ("e", 4),
    ("f", 5),
    ("g", 7),
    ("a", 9),
    ("b", 11),
];

impl Query {
    /// Parses the terms as the shell split them (`key:"F# minor"` arrives as `key:F# minor`).
    pub fn parse(terms: &[String], sort: Option<&str>) -> Result<Query, QueryError> {
        let mut q = Query::default();
        for raw in terms {
            // `-field:value`, or `!field:value` (what midictl sends, so clap takes it for a term).
            let (negated, body) = match raw.strip_prefix('-').or_else(|| raw.strip_prefix('!')) {
                Some(rest) if rest.contains(':') => (true, rest),
                _ => (false, raw.as_str()),
            };
            let Some((field, value)) = body.split_once(':') else {
                return Err(QueryError::Field { term: raw.clone(), field: body.to_string() });
            };
            let value = value.trim().trim_matches('"');
            let bad = |why: &str| QueryError::Value { term: raw.clone(), why: why.to_string() };
            let term = match field.to_ascii_lowercase().as_str() {
                "dupes" => {
                    q.hide_dupes = match value {
                        "hide" => !negated,
                        "show" => negated,
                        _ => return Err(bad("use dupes:hide or dupes:show")),
                    };
                    continue;
                }
                "key" => parse_key(value).ok_or_else(|| bad("a key like Am, F#, Bbm, \"F# minor\", \"Eb major\""))?,
                "bpm" => Term::Bpm(parse_range(value, 0.5).ok_or_else(|| bad("a number, A..B, >N, >=N, <N or <=N"))?),
                "bars" => {
                    Term::Bars(parse_range(value, 0.01).ok_or_else(|| bad("a number, A..B, >N, >=N, <N or <=N"))?)
                }
                "role" => {
                    let v = value.to_ascii_lowercase();
                    let role =
                        ROLES.iter().find(|r| **r == v).ok_or_else(|| bad(&format!("a role: {}", ROLES.join(" "))))?;
                    Term::Role(role.to_string())
                }
                "drum" => {
                    let v = value.to_ascii_lowercase();
                    let parts: Vec<&'static str> = match v.as_str() {
                        "hat" | "hats" | "hihat" => vec!["hat_closed", "hat_open"],
                        "cymbal" | "cymbals" => vec!["crash", "ride"],
                        "tom" => vec!["toms"],
                        other => DRUMS.iter().filter(|d| **d == other).copied().collect(),
                    };
                    if parts.is_empty() {
                        return Err(bad(&format!("a drum part: hat cymbal {}", DRUMS.join(" "))));
                    }
                    Term::Drum(parts)
                }
                "tag" if !value.is_empty() => Term::Tag(value.to_ascii_lowercase()),
                "name" if !value.is_empty() => Term::Name(value.to_ascii_lowercase()),
                "tag" | "name" => return Err(bad("a value is needed")),
                "loop" => Term::Loop(match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "1" => true,
                    "no" | "false" | "0" => false,
                    _ => return Err(bad("yes or no")),
                }),
                other => return Err(QueryError::Field { term: raw.clone(), field: other.to_string() }),
            };
            q.clauses.push(Clause { negated, term });
        }
        if let Some(s) = sort {
            let (desc, name) = match s.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, s),
            };
            let key = match name {
                "bpm" => SortKey::Bpm,
                "key" => SortKey::Key,
                "bars" => SortKey::Bars,
                "notes" => SortKey::Notes,
                "duration" => SortKey::Duration,
                "size" => SortKey::Size,
                "name" => SortKey::Name,
                _ => return Err(QueryError::Sort(s.to_string())),
            };
            q.sort = Some((key, desc));
        }
        Ok(q)
    }

    /// The SQLite condition (ANDed with the caller's) and its parameters, numbered from `first`.
    pub fn sqlite_where(&self, first: usize) -> (String, Vec<Value>) {
        let (sql, params) = self.render_where(Dialect::Sqlite, first);
        let params = params
            .into_iter()
            .map(|p| match p {
                Param::Int(i) => Value::Integer(i),
                Param::Real(r) => Value::Real(r),
                Param::Text(t) => Value::Text(t),
            })
            .collect();
        (sql, params)
    }

    /// The conditions for PostgreSQL: `$n` parameters (BIGINT, DOUBLE PRECISION or TEXT, as the
    /// columns they meet), ASCII-only case folding with `translate` to agree with SQLite.
    pub fn postgres_where(&self, first: usize) -> (String, Vec<Param>) {
        self.render_where(Dialect::Postgres, first)
    }

    fn render_where(&self, d: Dialect, first: usize) -> (String, Vec<Param>) {
        let pg = d == Dialect::Postgres;
        let lower =
            |col: &str| if pg { format!("translate({col}, '{UPPER}', '{LOWER}')") } else { format!("lower({col})") };
        let mut sql = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for c in &self.clauses {
            let mut p = |v: Param| {
                params.push(v);
                format!("{}{}", if pg { '$' } else { '?' }, first + params.len() - 1)
            };
            let cond = match &c.term {
                Term::Key { tonic, minor } => match minor {
                    Some(m) => format!(
                        "(key_tonic = {} AND key_mode = {})",
                        p(Param::Int(i64::from(*tonic))),
                        p(Param::Text(if *m { "minor" } else { "major" }.into()))
                    ),
                    None => format!("key_tonic = {}", p(Param::Int(i64::from(*tonic)))),
                },
                Term::Bpm(r) => format!("(bpm BETWEEN {} AND {})", p(Param::Real(r.lo)), p(Param::Real(r.hi))),
                Term::Bars(r) => format!("(bars BETWEEN {} AND {})", p(Param::Real(r.lo)), p(Param::Real(r.hi))),
                Term::Role(r) => format!("role = {}", p(Param::Text(r.clone()))),
                Term::Drum(parts) => {
                    let any: Vec<String> = parts
                        .iter()
                        .map(|d| format!("(',' || drum_parts || ',') LIKE {}", p(Param::Text(format!("%,{d},%")))))
                        .collect();
                    format!("({})", any.join(" OR "))
                }
                Term::Tag(t) => {
                    let v = p(Param::Text(t.clone()));
                    if pg {
                        format!(
                            "EXISTS (SELECT 1 FROM sources s, jsonb_array_elements_text(s.tags) j(value)
                               WHERE s.hash = files.hash AND {} = {v})",
                            lower("j.value")
                        )
                    } else {
                        format!(
                            "EXISTS (SELECT 1 FROM sources s, json_each(s.tags) j WHERE s.hash = files.hash AND lower(j.value) = {v})"
                        )
                    }
                }
                // PostgreSQL matches the stored, already folded `name_key` (one trigram index;
                // migration 0003); a pattern holding its newline could match across the two
                // names, so that one alone takes the two-column form.
                Term::Name(n) if pg && !n.contains('\n') => {
                    let pat = p(Param::Text(format!("%{}%", like_escape(n))));
                    format!("EXISTS (SELECT 1 FROM sources s WHERE s.hash = files.hash AND s.name_key LIKE {pat} ESCAPE '\\')")
                }
                Term::Name(n) => {
                    let pat = p(Param::Text(format!("%{}%", like_escape(n))));
                    format!(
                        "EXISTS (SELECT 1 FROM sources s WHERE s.hash = files.hash
                           AND ({} LIKE {pat} ESCAPE '\\' OR {} LIKE {pat} ESCAPE '\\'))",
                        lower("s.name"),
                        lower("coalesce(s.clean_name, '')")
                    )
                }
                Term::Loop(yes) => match (*yes, pg) {
                    (true, false) => "is_loop = 1".to_string(),
                    (false, false) => "coalesce(is_loop, 0) = 0".to_string(),
                    (true, true) => "is_loop".to_string(),
                    (false, true) => "NOT coalesce(is_loop, false)".to_string(),
                },
            };
            // A file without the value (NULL) fails the term and passes its negation.
            let no = if pg { "false" } else { "0" };
            sql.push(if c.negated {
                format!("NOT coalesce(({cond}), {no})")
            } else {
                format!("coalesce(({cond}), {no})")
            });
        }
        (sql.join(" AND "), params)
    }

    /// `ORDER BY` for SQLite: the sort key with NULLs last, then import order.
    pub fn sqlite_order(&self) -> String {
        self.render_order(Dialect::Sqlite)
    }

    /// `ORDER BY` for PostgreSQL: as SQLite's, with names compared bytewise (`COLLATE "C"`, as
    /// SQLite's BINARY collation does) rather than by the database's locale.
    pub fn postgres_order(&self) -> String {
        self.render_order(Dialect::Postgres)
    }

    fn render_order(&self, d: Dialect) -> String {
        let pg = d == Dialect::Postgres;
        let Some((key, desc)) = self.sort else { return "id".to_string() };
        let col = match (key, pg) {
            (SortKey::Bpm, _) => "bpm".to_string(),
            (SortKey::Key, false) => "key_tonic * 2 + (key_mode = 'minor')".to_string(),
            (SortKey::Key, true) => "key_tonic * 2 + (key_mode = 'minor')::int".to_string(),
            (SortKey::Bars, _) => "bars".to_string(),
            (SortKey::Notes, _) => "notes".to_string(),
            (SortKey::Duration, _) => "duration_s".to_string(),
            (SortKey::Size, _) => "size".to_string(),
            (SortKey::Name, false) => "(SELECT lower(min(s.name)) FROM sources s WHERE s.hash = files.hash)".to_string(),
            (SortKey::Name, true) => format!(
                "(SELECT translate(min(s.name COLLATE \"C\"), '{UPPER}', '{LOWER}') FROM sources s WHERE s.hash = files.hash) COLLATE \"C\""
            ),
        };
        let dir = if desc { "DESC" } else { "ASC" };
        format!("({col}) IS NULL, {col} {dir}, id")
    }

    /// The same conditions on a file as the catalog returns it: what the SQL must agree with.
    pub fn matches(&self, f: &FileInfo) -> bool {
        self.clauses.iter().all(|c| term_holds(&c.term, f) != c.negated)
    }
}

fn term_holds(t: &Term, f: &FileInfo) -> bool {
    match t {
        Term::Key { tonic, minor } => {
            f.key_tonic == Some(*tonic)
                && minor.is_none_or(|m| f.key_mode.as_deref() == Some(if m { "minor" } else { "major" }))
        }
        Term::Bpm(r) => f.bpm.is_some_and(|b| r.holds(b)),
        Term::Bars(r) => f.bars.is_some_and(|b| r.holds(b)),
        Term::Role(r) => f.role.as_deref() == Some(r.as_str()),
        Term::Drum(parts) => f.drum_parts.as_ref().is_some_and(|d| d.iter().any(|x| parts.contains(&x.as_str()))),
        Term::Tag(t) => f.sources.iter().any(|s| s.tags.iter().any(|x| x.to_ascii_lowercase() == *t)),
        Term::Name(n) => f.sources.iter().any(|s| {
            s.name.to_ascii_lowercase().contains(n.as_str())
                || s.clean_name.as_deref().is_some_and(|c| c.to_ascii_lowercase().contains(n.as_str()))
        }),
        Term::Loop(yes) => (f.is_loop == Some(true)) == *yes,
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn parse_key(v: &str) -> Option<Term> {
    let v = v.trim().to_ascii_lowercase();
    let (tonic_part, rest) = TONICS.iter().find_map(|(name, pc)| v.strip_prefix(name).map(|r| ((*pc), r.trim())))?;
    let minor = match rest {
        "" => Some(false),
        "m" | "min" | "minor" => Some(true),
        "maj" | "major" => Some(false),
        "*" | "any" => None,
        _ => return None,
    };
    Some(Term::Key { tonic: tonic_part, minor })
}

/// `120`, `120..128`, `>140`, `>=140`, `<90`, `<=90`; a lone number matches within `slack`
/// (BPM are stored unrounded: `bpm:120` finds 119.6 and 120.4).
fn parse_range(v: &str, slack: f64) -> Option<Range> {
    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
    let r = if let Some((a, b)) = v.split_once("..") {
        Range { lo: num(a)?, hi: num(b)? }
    } else if let Some(x) = v.strip_prefix(">=") {
        Range { lo: num(x)?, hi: f64::MAX }
    } else if let Some(x) = v.strip_prefix("<=") {
        Range { lo: f64::MIN, hi: num(x)? }
    } else if let Some(x) = v.strip_prefix('>') {
        let x = num(x)?;
        Range { lo: next_up(x), hi: f64::MAX }
    } else if let Some(x) = v.strip_prefix('<') {
        let x = num(x)?;
        Range { lo: f64::MIN, hi: next_down(x) }
    } else {
        let x = num(v)?;
        Range { lo: x - slack, hi: x + slack }
    };
    (r.lo <= r.hi).then_some(r)
}

fn next_up(x: f64) -> f64 {
    x + f64::EPSILON * x.abs().max(1.0)
}

fn next_down(x: f64) -> f64 {
    x - f64::EPSILON * x.abs().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(terms: &[&str]) -> Result<Query, QueryError> {
        Query::parse(&terms.iter().map(|s| s.to_string()).collect::<Vec<_>>(), None)
    }

    #[test]
    fn every_field_parses() {
        let query = q(&[
            "key:Am",
            "bpm:120..128",
            "bars:4",
            "role:bass",
            "drum:hat",
            "tag:Trap",
            "name:Kick",
            "loop:yes",
            "-key:F# minor",
        ])
        .unwrap();
        assert_eq!(query.clauses[0].term, Term::Key { tonic: 9, minor: Some(true) });
        assert_eq!(query.clauses[1].term, Term::Bpm(Range { lo: 120.0, hi: 128.0 }));
        assert_eq!(query.clauses[4].term, Term::Drum(vec!["hat_closed", "hat_open"]));
        assert_eq!(query.clauses[5].term, Term::Tag("trap".into()));
        assert_eq!(query.clauses[7].term, Term::Loop(true));
        assert_eq!(query.clauses[8], Clause { negated: true, term: Term::Key { tonic: 6, minor: Some(true) } });
        assert!(q(&["dupes:hide"]).unwrap().hide_dupes);
    }

    #[test]
    fn keys_in_every_spelling() {
        for (s, tonic, minor) in
            [("Bbm", 10, true), ("Eb major", 3, false), ("C#", 1, false), ("gmin", 7, true), ("B", 11, false)]
        {
            assert_eq!(parse_key(s), Some(Term::Key { tonic, minor: Some(minor) }), "{s}");
        }
        assert_eq!(parse_key("H"), None);
        assert_eq!(parse_key("Am7"), None);
    }

    #[test]
    fn ranges_and_bounds() {
        assert_eq!(parse_range(">140", 0.5).map(|r| r.holds(140.0)), Some(false));
        assert_eq!(parse_range(">=140", 0.5).map(|r| r.holds(140.0)), Some(true));
        assert_eq!(parse_range("<90", 0.5).map(|r| r.holds(89.9)), Some(true));
        assert_eq!(parse_range("120", 0.5).map(|r| r.holds(120.4)), Some(true));
        assert_eq!(parse_range("128..120", 0.5), None);
        assert_eq!(parse_range("fast", 0.5), None);
    }

    #[test]
    fn unknown_fields_and_values_are_errors() {
        assert!(matches!(q(&["colour:red"]), Err(QueryError::Field { .. })));
        assert!(matches!(q(&["kick"]), Err(QueryError::Field { .. })));
        assert!(matches!(q(&["role:vocals"]), Err(QueryError::Value { .. })));
        assert!(matches!(q(&["drum:cowbell"]), Err(QueryError::Value { .. })));
        assert!(matches!(q(&["loop:maybe"]), Err(QueryError::Value { .. })));
        assert!(matches!(Query::parse(&[], Some("colour")), Err(QueryError::Sort(_))));
        assert_eq!(Query::parse(&[], Some("-bpm")).unwrap().sort, Some((SortKey::Bpm, true)));
    }

    #[test]
    fn a_negation_matches_files_without_the_value() {
        let query = q(&["-key:Am"]).unwrap();
        assert!(query.matches(&FileInfo::default()), "no key: not A minor");
        let am = FileInfo { key_tonic: Some(9), key_mode: Some("minor".into()), ..FileInfo::default() };
        assert!(!query.matches(&am));
        let (sql, params) = query.sqlite_where(2);
        assert!(sql.starts_with("NOT coalesce("), "{sql}");
        assert_eq!(params.len(), 2);
        assert!(sql.contains("?2") && sql.contains("?3"), "{sql}");
    }

    #[test]
    fn case_is_ignored_for_ascii_letters_only_as_in_sqlite() {
        let f = FileInfo {
            sources: vec![midictl::protocol::SourceInfo { name: "Über KICK.mid".into(), ..Default::default() }],
            ..FileInfo::default()
        };
        assert!(q(&["name:Über kick"]).unwrap().matches(&f));
        assert!(!q(&["name:über kick"]).unwrap().matches(&f), "SQLite's lower() leaves Ü as it is");
    }

    #[test]
    fn like_wildcards_in_names_are_literal() {
        let query = q(&["name:100%_a"]).unwrap();
        let (_, params) = query.sqlite_where(1);
        assert_eq!(params, vec![Value::Text("%100\\%\\_a%".into())]);
    }
}
