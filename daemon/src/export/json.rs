//! A JSON tree that keeps what the checkers need and `serde_json::Value` drops.
//!
//! The writer profiles have rules on key order (MPCP-004, PROG-002), on duplicate keys and on
//! integers written as floats (MPCP-009: `960.0` is not a tick). `Value` sorts its maps (the
//! workspace does not enable `preserve_order`, and turning it on would change every other map
//! in the daemon), keeps the last of duplicate keys and hides how a number was written. This
//! tree is filled by serde_json's own parser, so its limits (nesting depth, no trailing data)
//! still hold.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::Violation;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// A number written without a fraction or exponent.
    Int(i128),
    /// A number written with a fraction or exponent (or an integer too large for 64 bits).
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    /// Members in document order, duplicates kept.
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub(super) fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub(super) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn keys(&self) -> Vec<&str> {
        match self {
            Json::Obj(members) => members.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn int(&self) -> Option<i128> {
        match self {
            Json::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// Any number as a float (integers too).
    pub(super) fn num(&self) -> Option<f64> {
        match self {
            Json::Int(i) => Some(*i as f64),
            Json::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub(super) fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn arr(&self) -> Option<&[Json]> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Int(_) => "an integer",
            Json::Float(_) => "a float",
            Json::Str(_) => "a string",
            Json::Arr(_) => "an array",
            Json::Obj(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Int(i128::from(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Obj(members))
    }
}

/// Writes `s` as a JSON string literal. The writers only put sanitized ASCII names here; the
/// escapes keep the output valid JSON whatever a later caller passes.
pub(super) fn push_str_lit(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// At most this many violations per rule are listed one by one: a broken file of 100,000
/// events should not produce 100,000 lines of the same complaint.
const PER_RULE: usize = 20;

/// Collects violations, capping each rule's list and saying how many were left out.
pub(super) struct Sink {
    out: Vec<Violation>,
    counts: Vec<(&'static str, usize)>,
}

impl Sink {
    pub(super) fn new() -> Sink {
        Sink { out: Vec::new(), counts: Vec::new() }
    }

    pub(super) fn push(&mut self, rule: &'static str, detail: impl Into<String>) {
        let n = match self.counts.iter_mut().find(|c| c.0 == rule) {
            Some(c) => {
                c.1 += 1;
                c.1
            }
            None => {
                self.counts.push((rule, 1));
                1
            }
        };
        if n <= PER_RULE {
            self.out.push(Violation { rule, detail: detail.into() });
        }
    }

    pub(super) fn finish(mut self) -> Vec<Violation> {
        for (rule, n) in self.counts {
            if n > PER_RULE {
                self.out.push(Violation { rule, detail: format!("and {} more like these", n - PER_RULE) });
            }
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_duplicates_and_number_form() {
        let j = Json::parse(r#"{"b": 1, "a": 1.0, "b": 9223372036854775807, "c": [null, true, "x"]}"#).unwrap();
        assert_eq!(j.keys(), ["b", "a", "b", "c"]);
        assert_eq!(j.get("a"), Some(&Json::Float(1.0)));
        assert_eq!(j.get("b"), Some(&Json::Int(1)));
        let Json::Obj(m) = &j else { panic!() };
        assert_eq!(m[2].1, Json::Int(i128::from(i64::MAX)));
        assert!(Json::parse("{} x").is_err());
        assert!(Json::parse(&"[".repeat(10_000)).is_err());
    }

    #[test]
    fn string_literals_escape() {
        let mut s = String::new();
        push_str_lit(&mut s, "a\"b\\c\u{1}");
        assert_eq!(s, r#""a\"b\\c\u0001""#);
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\"b\\c\u{1}");
    }

    #[test]
    fn sink_caps_each_rule() {
        let mut s = Sink::new();
        for i in 0..25 {
            s.push("R-1", format!("{i}"));
        }
        s.push("R-2", "x");
        let v = s.finish();
        assert_eq!(v.len(), PER_RULE + 2);
        assert_eq!(v.last().unwrap().detail, "and 5 more like these");
    }
}
