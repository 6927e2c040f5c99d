//! RFC 1035 master-file reading with line numbers.
//!
//! hickory's zone `Parser` reports errors without a line, and a config error without a line is
//! of little use to an operator. So this module does the master-file grammar itself (entries,
//! parentheses, quoting, comments, `$ORIGIN`, `$TTL`, `$INCLUDE`, owner and TTL inheritance) and
//! hands hickory one record at a time, only to turn RDATA text into typed `RData`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

use crate::error::ConfigError;

/// Nesting limit for `$INCLUDE`, so that a file including itself fails cleanly.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A record with the place it came from.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    pub record: Record,
    pub file: PathBuf,
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
                        match Name::parse(&entry.tokens[2].text, Some(&state.origin)) {
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
            let name =
                Name::parse(&tok.text, Some(origin)).map_err(|e| format!("bad $ORIGIN: {e}"))?;
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
            Name::parse(&tok.text, Some(&state.origin))
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
        line.push_str(if !quoted && part == "@" {
            &origin_text
        } else {
            part
        });
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
    fn lexer_reports_unbalanced_parentheses_with_their_line() {
        assert_eq!(lex("a A 1.2.3.4\nb SOA (\n 1 2\n").unwrap_err().0, 2);
        assert_eq!(lex("a A 1.2.3.4 )\n").unwrap_err().0, 1);
        assert_eq!(lex("\n\nx TXT \"abc\n").unwrap_err().0, 3);
    }
}
