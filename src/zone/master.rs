//! RFC 1035 master-file reading with line numbers.
//!
//! hickory's zone `Parser` reports errors without a line, and a config error without a line is
//! of little use to an operator. So this module does the master-file grammar itself (entries,
//! parentheses, quoting, comments, `$ORIGIN`, `$TTL`, `$INCLUDE`, owner and TTL inheritance) and
//! hands hickory one record at a time, only to turn RDATA text into typed `RData`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

use crate::error::ConfigError;

/// Nesting limit for `$INCLUDE`, so that a file including itself fails cleanly.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A record with the place it came from.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// The record.
    pub record: Record,
    /// The file it was read from (an `$INCLUDE`d one, say).
    pub file: PathBuf,
    /// The line it starts at.
    pub line: usize,
}

/// Reads the master file at `path` for the zone `zone_origin` (taken from the file name).
///
/// Every `$ORIGIN` must lie inside the zone: a file whose `$ORIGIN` names another zone is almost
/// always a copy-paste mistake, and serving it under the wrong apex would lose data silently.
pub fn read_zone_file(
    path: &Path,
    zone_origin: &Name,
    errors: &mut Vec<ConfigError>,
) -> Vec<SourcedRecord> {
    let mut out = Vec::new();
    let mut state = FileState {
        origin: zone_origin.clone(),
        zone_origin,
        default_ttl: None,
        last_ttl: None,
        last_owner: None,
    };
    read_file(path, &mut state, 0, &mut out, errors);
    out
}

struct FileState<'z> {
    origin: Name,
    zone_origin: &'z Name,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
}

fn read_file(
    path: &Path,
    state: &mut FileState<'_>,
    depth: usize,
    out: &mut Vec<SourcedRecord>,
    errors: &mut Vec<ConfigError>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::file(path, format!("cannot read: {e}")));
            return;
        }
    };
    let entries = match lex(&text) {
        Ok(entries) => entries,
        Err((line, msg)) => {
            errors.push(ConfigError::at(path, line, msg));
            return;
        }
    };
    for entry in entries {
        let err = |msg: String| ConfigError::at(path, entry.line, msg);
        let first = &entry.tokens[0];
        if !entry.blank_owner && !first.quoted && first.text.starts_with('$') {
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => match directive_name(&entry, &state.origin) {
                    Ok(name) => {
                        if !state.zone_origin.zone_of(&name) {
                            errors.push(err(format!(
                                "$ORIGIN {name} is outside zone {} (a zone file's name, \
                                 <origin>.zone, sets its zone)",
                                state.zone_origin
                            )));
                            // Records that follow would all be out of zone; stop this file here
                            // rather than report each of them.
                            return;
                        }
                        state.origin = name;
                    }
                    Err(msg) => errors.push(err(msg)),
                },
                "$TTL" => match entry.tokens.get(1).map(|t| parse_ttl(&t.text)) {
                    Some(Ok(ttl)) if entry.tokens.len() == 2 => state.default_ttl = Some(ttl),
                    Some(Ok(_)) => errors.push(err("$TTL takes exactly one value".into())),
                    Some(Err(e)) => errors.push(err(format!("bad $TTL: {e}"))),
                    None => errors.push(err("$TTL needs a value".into())),
                },
                "$INCLUDE" => {
                    let Some(file_tok) = entry.tokens.get(1) else {
                        errors.push(err("$INCLUDE needs a file name".into()));
                        continue;
                    };
                    if depth >= MAX_INCLUDE_DEPTH {
                        errors.push(err(format!(
                            "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"
                        )));
                        continue;
                    }
                    let file_name = file_tok.text.trim_matches('"');
                    let include = match Path::new(file_name) {
                        p if p.is_absolute() => p.to_path_buf(),
                        p => path.parent().unwrap_or(Path::new(".")).join(p),
                    };
                    // RFC 1035 §5.1: an origin given with $INCLUDE applies to the included file
                    // only; the including file's origin is restored afterwards.
                    let saved_origin = state.origin.clone();
                    if entry.tokens.len() > 2 {
                        match parse_name(&entry.tokens[2].text, &state.origin) {
                            Ok(name) if state.zone_origin.zone_of(&name) => state.origin = name,
                            Ok(name) => {
                                errors.push(err(format!(
                                    "$INCLUDE origin {name} is outside zone {}",
                                    state.zone_origin
                                )));
                                continue;
                            }
                            Err(e) => {
                                errors.push(err(format!("bad $INCLUDE origin: {e}")));
                                continue;
                            }
                        }
                    }
                    if !include.is_file() {
                        errors.push(err(format!("$INCLUDE {}: no such file", include.display())));
                    } else {
                        read_file(&include, state, depth + 1, out, errors);
                    }
                    state.origin = saved_origin;
                }
                other => errors.push(err(format!("unknown directive {other}"))),
            }
            continue;
        }
        match parse_record(&entry, state) {
            Ok(record) => out.push(SourcedRecord {
                record,
                file: path.to_path_buf(),
                line: entry.line,
            }),
            Err(msg) => errors.push(err(msg)),
        }
    }
}

fn directive_name(entry: &Entry, origin: &Name) -> Result<Name, String> {
    match entry.tokens.get(1) {
        None => Err("$ORIGIN needs a domain name".into()),
        Some(tok) => {
            let name = parse_name(&tok.text, origin).map_err(|e| format!("bad $ORIGIN: {e}"))?;
            Ok(name)
        }
    }
}

fn parse_record(entry: &Entry, state: &mut FileState<'_>) -> Result<Record, String> {
    let mut tokens = entry.tokens.iter().peekable();
    let owner = if entry.blank_owner {
        state
            .last_owner
            .clone()
            .ok_or("record has no owner name and no previous record to inherit it from")?
    } else {
        let tok = tokens.next().expect("entries are never empty");
        let name = if tok.text == "@" {
            state.origin.clone()
        } else {
            parse_name(&tok.text, &state.origin)
                .map_err(|e| format!("bad owner name {:?}: {e}", tok.text))?
        };
        state.last_owner = Some(name.clone());
        name
    };

    // RFC 1035 §5.1: `[<TTL>] [<class>] <type>` or `[<class>] [<TTL>] <type>`.
    let mut ttl = None;
    let mut class = None;
    let rtype = loop {
        let Some(tok) = tokens.next() else {
            return Err("record has no type".into());
        };
        let upper = tok.text.to_ascii_uppercase();
        if ttl.is_none() && tok.text.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(parse_ttl(&tok.text).map_err(|e| format!("bad TTL {:?}: {e}", tok.text))?);
            continue;
        }
        if class.is_none()
            && let Ok(c) = DNSClass::from_str(&upper)
        {
            class = Some(c);
            continue;
        }
        break RecordType::from_str(&upper)
            .map_err(|_| format!("unknown record type or class {:?}", tok.text))?;
    };
    if let Some(c) = class
        && c != DNSClass::IN
    {
        return Err(format!("class {c} is not served (only IN)"));
    }
    if matches!(
        rtype,
        RecordType::OPT | RecordType::ANY | RecordType::AXFR | RecordType::IXFR
    ) {
        return Err(format!(
            "{rtype} is not a record type that can appear in a zone"
        ));
    }
    let ttl = match ttl {
        Some(t) => {
            state.last_ttl = Some(t);
            t
        }
        None => state
            .default_ttl
            .or(state.last_ttl)
            .ok_or("record has no TTL and none is in force (add $TTL at the top of the file)")?,
    };

    let rdata: Vec<(&str, bool)> = tokens.map(|t| (t.text.as_str(), t.quoted)).collect();
    if rdata.is_empty() {
        return Err(format!("{rtype} record has no data"));
    }
    if rtype == RecordType::TXT {
        // Built here: hickory misreads `\DDD` in TXT text and lets strings over 255 octets
        // through, which then cannot be sent at all.
        let strings = rdata
            .iter()
            .map(|&(text, quoted)| character_string(text, quoted))
            .collect::<Result<Vec<Vec<u8>>, String>>()?;
        let txt = TXT::from_bytes(strings.iter().map(Vec::as_slice).collect());
        return Ok(Record::from_rdata(owner, ttl, RData::TXT(txt)));
    }
    let origin_text = state.origin.to_string();
    let mut line = String::with_capacity(128);
    line.push_str(&owner.to_string());
    line.push(' ');
    line.push_str(&ttl.to_string());
    line.push_str(" IN ");
    line.push_str(&rtype.to_string());
    for (part, quoted) in rdata {
        line.push(' ');
        // hickory's RDATA parsers do not expand `@`; RFC 1035 §5.1 says it is the origin.
        if !quoted && part == "@" {
            line.push_str(&origin_text);
        } else {
            line.push_str(&for_hickory(part, quoted)?);
        }
    }
    line.push('\n');

    let parsed = Parser::new(line, None, Some(state.origin.clone()))
        .parse()
        .map_err(|e| format!("bad {rtype} record: {e}"))?;
    let mut records = parsed.1.into_values().flat_map(|rs| {
        rs.records_without_rrsigs()
            .cloned()
            .collect::<Vec<Record>>()
    });
    records.next().ok_or_else(|| format!("bad {rtype} record"))
}

/// A domain name as written in a master file, relative to `origin` unless it ends in a dot.
fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    Name::parse(&for_hickory(text, false)?, Some(origin)).map_err(|e| e.to_string())
}

/// The value of a `\DDD` escape at the start of `bytes` (just after the backslash): `None` when
/// `bytes` does not start with a digit, an error when it starts with one but is not three
/// digits of a value up to 255.
fn decimal_escape(bytes: &[u8]) -> Result<Option<u8>, String> {
    if !bytes.first().is_some_and(u8::is_ascii_digit) {
        return Ok(None);
    }
    match bytes.get(..3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => {
            let v = d.iter().fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
            u8::try_from(v)
                .map(Some)
                .map_err(|_| format!("escape \\{v} is over 255"))
        }
        _ => Err("a \\DDD escape needs exactly three decimal digits".into()),
    }
}

/// RFC 1035 §5.1: `\DDD` is the octet whose *decimal* value is DDD. hickory reads such escapes
/// in names as octal, and in quoted text as something else again; this rewrites them into what
/// hickory reads as meant: octal in unquoted text (names), the character itself in quoted text.
/// Some octets cannot be carried that way (non-ASCII in names, non-printable in quoted text):
/// those are an error rather than silently different data.
fn for_hickory(text: &str, quoted: bool) -> Result<std::borrow::Cow<'_, str>, String> {
    if !text.contains('\\') {
        return Ok(text.into());
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        if bytes[i] != b'\\' {
            // Copy up to the next backslash (whole UTF-8 sequences).
            while i < bytes.len() && bytes[i] != b'\\' {
                i += 1;
            }
            out.push_str(&text[start..i]);
            continue;
        }
        match decimal_escape(&bytes[i + 1..])? {
            None => {
                // `\X`: hickory reads it as meant. Copy it with the whole next character.
                let next = text[i + 1..]
                    .chars()
                    .next()
                    .ok_or("a lone '\\' at the end of a field")?;
                out.push('\\');
                out.push(next);
                i += 1 + next.len_utf8();
            }
            Some(v) if !quoted && v.is_ascii() => {
                out.push_str(&format!("\\{v:03o}"));
                i += 4;
            }
            Some(v @ b'0'..=b'9') => {
                out.push(char::from(v));
                i += 4;
            }
            Some(v @ 0x20..=0x7e) => {
                out.push('\\');
                out.push(char::from(v));
                i += 4;
            }
            Some(v) => {
                return Err(format!(
                    "escape \\{v:03} is not supported here (only in TXT text): {}",
                    if quoted {
                        "a non-printable octet in quoted text"
                    } else {
                        "a non-ASCII octet in a name"
                    }
                ));
            }
        }
    }
    Ok(out.into())
}

/// One TXT character-string from a token: escapes resolved (`\X` is X, `\DDD` the octet with
/// decimal value DDD), at most 255 octets (RFC 1035 §3.3).
fn character_string(text: &str, quoted: bool) -> Result<Vec<u8>, String> {
    let inner = if quoted {
        &text[1..text.len() - 1]
    } else {
        text
    };
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match decimal_escape(&bytes[i + 1..])? {
            Some(v) => {
                out.push(v);
                i += 4;
            }
            None => {
                let &b = bytes
                    .get(i + 1)
                    .ok_or("a lone '\\' at the end of a string")?;
                out.push(b);
                i += 2;
            }
        }
    }
    if out.len() > 255 {
        return Err(format!(
            "TXT string of {} octets is longer than 255 (RFC 1035 §3.3); split it into several \
             quoted strings",
            out.len()
        ));
    }
    Ok(out)
}

/// One logical entry of a master file: a directive or a resource record, possibly spread over
/// several physical lines by parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    blank_owner: bool,
    tokens: Vec<Token>,
}

#[derive(Debug)]
struct Token {
    /// The token as written (quotes and backslash escapes kept: hickory interprets them).
    text: String,
    quoted: bool,
}

/// Splits master-file text into entries. Errors carry the line where the problem starts.
fn lex(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut entries = Vec::new();
    let mut tokens: Vec<Token> = Vec::new();
    let mut entry_line = 1;
    let mut blank_owner = false;
    let mut at_line_start = true;
    let mut depth = 0usize;
    let mut paren_line = 0;
    let mut line = 1;
    let mut cur = String::new();
    let mut chars = text.chars().peekable();

    fn flush(cur: &mut String, tokens: &mut Vec<Token>) {
        if !cur.is_empty() {
            tokens.push(Token {
                text: std::mem::take(cur),
                quoted: false,
            });
        }
    }

    while let Some(c) = chars.next() {
        if at_line_start {
            at_line_start = false;
            if depth == 0 {
                entry_line = line;
                blank_owner = c == ' ' || c == '\t';
            }
        }
        match c {
            '\n' => {
                flush(&mut cur, &mut tokens);
                if depth == 0 && !tokens.is_empty() {
                    entries.push(Entry {
                        line: entry_line,
                        blank_owner,
                        tokens: std::mem::take(&mut tokens),
                    });
                }
                line += 1;
                at_line_start = true;
            }
            ';' => {
                flush(&mut cur, &mut tokens);
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' | '\r' => flush(&mut cur, &mut tokens),
            '(' => {
                flush(&mut cur, &mut tokens);
                if depth == 0 {
                    paren_line = line;
                }
                depth += 1;
            }
            ')' => {
                flush(&mut cur, &mut tokens);
                if depth == 0 {
                    return Err((line, "')' without a matching '('".into()));
                }
                depth -= 1;
            }
            '"' => {
                flush(&mut cur, &mut tokens);
                let start = line;
                let mut s = String::from('"');
                loop {
                    match chars.next() {
                        None => return Err((start, "unterminated quoted string".into())),
                        Some('\\') => {
                            s.push('\\');
                            if let Some(n) = chars.next() {
                                if n == '\n' {
                                    line += 1;
                                }
                                s.push(n);
                            }
                        }
                        Some('"') => {
                            s.push('"');
                            break;
                        }
                        Some(n) => {
                            if n == '\n' {
                                line += 1;
                            }
                            s.push(n);
                        }
                    }
                }
                tokens.push(Token {
                    text: s,
                    quoted: true,
                });
            }
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c => cur.push(c),
        }
    }
    if depth > 0 {
        return Err((paren_line, "'(' is never closed".into()));
    }
    flush(&mut cur, &mut tokens);
    if !tokens.is_empty() {
        entries.push(Entry {
            line: entry_line,
            blank_owner,
            tokens,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_tracks_lines_across_parentheses_and_comments() {
        let text = "$TTL 300\n; comment\n@ IN SOA ns1 host (\n 1 ; serial\n 2 3 4 5 )\n\nwww A 192.0.2.1\n  AAAA 2001:db8::1\n";
        let entries = lex(text).unwrap();
        let lines: Vec<usize> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 7, 8]);
        assert_eq!(entries[1].tokens.len(), 10);
        assert!(entries[3].blank_owner);
        assert!(!entries[2].blank_owner);
    }

    #[test]
    fn lexer_keeps_quoted_strings_whole() {
        let entries = lex("t TXT \"a ; b\" \"c\\\"d\"\n").unwrap();
        let texts: Vec<&str> = entries[0].tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, vec!["t", "TXT", "\"a ; b\"", "\"c\\\"d\""]);
    }

    #[test]
    fn decimal_escapes_are_decimal() {
        let origin = Name::from_ascii("example.com.").unwrap();
        // \065 is 'A' (RFC 1035 §5.1), not octal 065 = '5'.
        let n = parse_name("n\\065me", &origin).unwrap();
        assert!(
            n.iter().next().unwrap().eq_ignore_ascii_case(b"name"),
            "{n}"
        );
        assert_eq!(parse_name("a\\.b", &origin).unwrap().num_labels(), 3);
        assert_eq!(parse_name("a\\046b", &origin).unwrap().num_labels(), 3);
        assert!(parse_name("a\\300", &origin).is_err());
        assert!(parse_name("a\\12", &origin).is_err());
        assert!(parse_name("a\\200", &origin).is_err());

        assert_eq!(character_string("\"q\\065\\\"\"", true).unwrap(), b"qA\"");
        assert_eq!(character_string("a\\065b", false).unwrap(), b"aAb");
        assert_eq!(
            character_string("\\000\\255\\;", false).unwrap(),
            [0, 255, b';']
        );
        assert_eq!(
            character_string("\"caf\u{e9}\"", true).unwrap(),
            "caf\u{e9}".as_bytes()
        );
        assert!(character_string("a\\", false).is_err());
        assert!(character_string("\\256", false).is_err());
        assert!(character_string(&"x".repeat(256), false).is_err());
        assert_eq!(
            character_string(&"x".repeat(255), false).unwrap().len(),
            255
        );

        assert_eq!(for_hickory("\"a\\0651\"", true).unwrap(), "\"a\\A1\"");
        assert_eq!(for_hickory("\"\\0491\"", true).unwrap(), "\"11\"");
        assert!(for_hickory("\"\\007\"", true).is_err());
    }

    #[test]
    fn lexer_reports_unbalanced_parentheses_with_their_line() {
        assert_eq!(lex("a A 1.2.3.4\nb SOA (\n 1 2\n").unwrap_err().0, 2);
        assert_eq!(lex("a A 1.2.3.4 )\n").unwrap_err().0, 1);
        assert_eq!(lex("\n\nx TXT \"abc\n").unwrap_err().0, 3);
    }
}
