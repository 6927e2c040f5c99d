//! RFC 1035 master-file reading with line numbers.
//!
//! hickory's zone `Parser` reports errors without a line, and a config error without a line is
//! of little use to an operator. So this module does the master-file grammar itself (entries,
//! parentheses, quoting, comments, `$ORIGIN`, `$TTL`, `$INCLUDE`, owner and TTL inheritance)
//! and `rdata` turns each record's fields into wire format.
//!
//! One mistake gives one error: a bad line is skipped and reading goes on, the records that
//! inherit a bad owner are skipped with it, and when reading could not finish (an unclosed
//! parenthesis or quote, a bad `$ORIGIN`) the zone-wide checks that would only repeat the same
//! problem ("no SOA record") are left out.

use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::{Name, RecordType};
use tracing::warn;

use super::rdata::{self, Tok};
use crate::error::ConfigError;
use crate::wire::{WireRecord, check_rdata};

/// Nesting limit for `$INCLUDE`, so that a file including itself fails cleanly.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Files read for one zone at most (its own and every `$INCLUDE`d one, counted each time it
/// is read): the depth limit alone lets a file that includes itself a few times at each
/// level take hours. Real zones include a handful.
pub const MAX_ZONE_FILES: usize = 1024;

/// Bytes read for one zone at most, over all its files.
pub const MAX_ZONE_BYTES: u64 = 512 * 1024 * 1024;

/// The TTL of a record that has none, when no `$TTL` is in force: NSD's and Knot's default
/// (both use 3600 and neither inherits the previous record's TTL; BIND uses the SOA MINIMUM).
pub const DEFAULT_TTL: u32 = 3600;

/// A record with the place it came from.
#[derive(Debug, Clone)]
pub struct SourcedRecord {
    /// The record, in the wire form it is served in.
    pub record: WireRecord,
    /// The file it was read from (an `$INCLUDE`d one, say): shared by the file's records.
    pub file: Arc<Path>,
    /// The line it starts at.
    pub line: usize,
}

/// What reading a zone's files produced.
#[derive(Debug, Default)]
pub struct ZoneRecords {
    /// The records read, in file order, each with where it was written.
    pub records: Vec<SourcedRecord>,
    /// Every line was read: no error made reading stop early or skip a record. When false,
    /// checks of the zone as a whole (an SOA, NS at the apex, glue) would mostly repeat the
    /// errors already reported, so they are left out.
    pub complete: bool,
}

/// Reads the master file at `path` for the zone `zone_origin` (taken from the file name). Which
/// records lie outside the zone is for [`super::Zone::build`] to judge.
pub fn read_zone_file(
    path: &Path,
    zone_origin: &Name,
    errors: &mut Vec<ConfigError>,
) -> ZoneRecords {
    let mut out = Vec::new();
    let errors_before = errors.len();
    let mut state = FileState {
        origin: name_to_wire(zone_origin),
        default_ttl: None,
        last_owner: None,
        default_ttl_warned: false,
        signed_reported: false,
        files_read: 0,
        bytes_read: 0,
        over_budget: false,
    };
    read_file(path, &mut state, 0, &mut out, errors);
    ZoneRecords {
        records: out,
        complete: errors.len() == errors_before,
    }
}

struct FileState {
    /// The current origin, in wire form.
    origin: Vec<u8>,
    default_ttl: Option<u32>,
    /// The owner blank-owner lines inherit: `Err(())` after a bad owner, so that the lines
    /// that inherit it are skipped rather than reported again or given to another name.
    last_owner: Option<Result<Box<[u8]>, ()>>,
    default_ttl_warned: bool,
    signed_reported: bool,
    /// Files and bytes read so far for this zone (see [`MAX_ZONE_FILES`]).
    files_read: usize,
    bytes_read: u64,
    /// A budget was exceeded (reported once; nothing more is read).
    over_budget: bool,
}

/// Uncompressed wire form of `name`, as spelled.
fn name_to_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// A hickory `Name` from a well-formed wire name.
fn wire_to_name(wire: &[u8]) -> Result<Name, String> {
    Name::from_labels(rdata::wire_labels(wire)).map_err(|e| e.to_string())
}

fn read_file(
    path: &Path,
    state: &mut FileState,
    depth: usize,
    out: &mut Vec<SourcedRecord>,
    errors: &mut Vec<ConfigError>,
) {
    if state.over_budget {
        return;
    }
    state.files_read += 1;
    if state.files_read > MAX_ZONE_FILES {
        state.over_budget = true;
        errors.push(ConfigError::file(
            path,
            format!(
                "the zone reads more than {MAX_ZONE_FILES} files through $INCLUDE (a file \
                 included many times over?); stopped"
            ),
        ));
        return;
    }
    let bytes = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(ConfigError::file(path, format!("cannot read: {e}")));
            return;
        }
    };
    state.bytes_read += bytes.len() as u64;
    if state.bytes_read > MAX_ZONE_BYTES {
        state.over_budget = true;
        errors.push(ConfigError::file(
            path,
            format!(
                "the zone's files (with $INCLUDE) come to more than {} MiB; stopped",
                MAX_ZONE_BYTES >> 20
            ),
        ));
        return;
    }
    // Zone files are octets, not necessarily UTF-8: a name or string may hold any octet
    // (written raw or as \DDD). Other octets are carried through as \DDD escapes.
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => escape_non_utf8(e.as_bytes()),
    };
    // Entries are read as they are lexed, so that a big file's tokens are never all held
    // at once; errors come out as if it were lexed first (the lexer's, then the entries').
    let mut lexer = Lexer::new(&text);
    let mut found: Vec<ConfigError> = Vec::new();
    let shared_path: Arc<Path> = Arc::from(path);
    for entry in lexer.by_ref() {
        let err = |msg: String| ConfigError::at(path, entry.line, msg);
        let first = &entry.tokens[0];
        if !entry.blank_owner && !first.quoted && first.text.starts_with('$') {
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => match directive_name(&entry, &state.origin) {
                    // Any origin, as BIND, Knot and NSD allow (`$ORIGIN com.` then
                    // `example SOA …`): what must lie in the zone is each record's owner.
                    Ok(name) => state.origin = name,
                    Err(msg) => {
                        // Relative names that follow would land under the wrong origin.
                        found.push(err(msg));
                        break;
                    }
                },
                "$TTL" => match entry.tokens.get(1).map(|t| rdata::period(&t.text)) {
                    Some(Some(ttl)) if entry.tokens.len() == 2 => state.default_ttl = Some(ttl),
                    Some(Some(_)) => found.push(err("$TTL takes exactly one value".into())),
                    Some(None) => found.push(err(format!(
                        "bad $TTL {:?}: a number of seconds (or 1h30m style) up to 4294967295",
                        entry.tokens[1].text
                    ))),
                    None => found.push(err("$TTL needs a value".into())),
                },
                "$INCLUDE" => {
                    let Some(file_tok) = entry.tokens.get(1) else {
                        found.push(err("$INCLUDE needs a file name".into()));
                        continue;
                    };
                    if depth >= MAX_INCLUDE_DEPTH {
                        found.push(err(format!(
                            "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"
                        )));
                        continue;
                    }
                    let include = match Path::new(&file_tok.text) {
                        p if p.is_absolute() => p.to_path_buf(),
                        p => path.parent().unwrap_or(Path::new(".")).join(p),
                    };
                    // RFC 1035 §5.1: an origin given with $INCLUDE applies to the included file
                    // only; the including file's origin is restored afterwards.
                    let saved_origin = state.origin.clone();
                    if let Some(tok) = entry.tokens.get(2) {
                        match rdata::name_wire(&tok.text, &state.origin) {
                            Ok(name) => state.origin = name,
                            Err(e) => {
                                found.push(err(format!("bad $INCLUDE origin {:?}: {e}", tok.text)));
                                continue;
                            }
                        }
                    }
                    if !include.is_file() {
                        found.push(err(format!("$INCLUDE {}: no such file", include.display())));
                    } else {
                        read_file(&include, state, depth + 1, out, &mut found);
                    }
                    state.origin = saved_origin;
                }
                "$GENERATE" => found.push(err(
                    "$GENERATE is a BIND extension that NSD and Knot do not read; write the \
                     records out"
                        .into(),
                )),
                other => found.push(err(format!("unknown directive {other:?}"))),
            }
            continue;
        }
        match parse_record(&entry, path, state) {
            Ok(Some(record)) => out.push(SourcedRecord {
                record,
                file: shared_path.clone(),
                line: entry.line,
            }),
            Ok(None) => {}
            Err(msg) => found.push(err(msg)),
        }
    }
    // The rest of the file is lexed for its errors even when reading stopped (a bad
    // $ORIGIN).
    for _ in lexer.by_ref() {}
    for (line, msg) in std::mem::take(&mut lexer.errors) {
        errors.push(ConfigError::at(path, line, msg));
    }
    errors.append(&mut found);
}

/// Text that is not UTF-8, with each byte of an invalid sequence written as a `\DDD` escape
/// (which every field reads back as that octet).
fn escape_non_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03}"));
        }
    }
    out
}

fn directive_name(entry: &Entry, origin: &[u8]) -> Result<Vec<u8>, String> {
    match entry.tokens.get(1) {
        None => Err("$ORIGIN needs a domain name".into()),
        Some(tok) => {
            let name = rdata::name_wire(&tok.text, origin)
                .map_err(|e| format!("bad $ORIGIN {:?}: {e}", tok.text))?;
            if entry.tokens.len() > 2 {
                return Err("$ORIGIN takes exactly one domain name".into());
            }
            Ok(name)
        }
    }
}

/// One record. `Ok(None)`: a record skipped without a new error (its owner was bad).
fn parse_record(
    entry: &Entry,
    path: &Path,
    state: &mut FileState,
) -> Result<Option<WireRecord>, String> {
    let mut tokens = entry.tokens.iter().peekable();
    let owner = if entry.blank_owner {
        match &state.last_owner {
            None => {
                return Err(
                    "record has no owner name and no previous record to inherit it from".into(),
                );
            }
            Some(Err(())) => return Ok(None),
            Some(Ok(name)) => name.clone(),
        }
    } else {
        let tok = tokens.next().expect("entries are never empty");
        let parsed = if tok.quoted {
            Err("an owner name is not a quoted string".to_string())
        } else {
            rdata::name_wire(&tok.text, &state.origin)
                .and_then(|w| wire_to_name(&w).map(|_| Box::<[u8]>::from(w)))
        };
        match parsed {
            Ok(name) => {
                state.last_owner = Some(Ok(name.clone()));
                name
            }
            Err(e) => {
                state.last_owner = Some(Err(()));
                return Err(format!("bad owner name {:?}: {e}", tok.text));
            }
        }
    };

    // RFC 1035 §5.1: `[<TTL>] [<class>] <type>` or `[<class>] [<TTL>] <type>`.
    let mut ttl = None;
    let mut class = None;
    let code = loop {
        let Some(tok) = tokens.next() else {
            return Err("record has no type".into());
        };
        if ttl.is_none() && !tok.quoted && tok.text.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(rdata::period(&tok.text).ok_or_else(|| {
                format!(
                    "bad TTL {:?}: a number of seconds (or 1h30m style) up to 4294967295",
                    tok.text
                )
            })?);
            continue;
        }
        if class.is_none()
            && !tok.quoted
            && let Some(c) = rdata::class_from_text(&tok.text)
        {
            class = Some((c, tok.text.clone()));
            continue;
        }
        match rdata::type_from_text(&tok.text) {
            Some(code) if !tok.quoted => break code,
            _ => return Err(format!("unknown record type or class {:?}", tok.text)),
        }
    };
    if let Some((c, text)) = class
        && c != 1
    {
        return Err(format!("class {text} is not served (only IN)"));
    }
    let tname = rdata::type_name(code);
    if rdata::is_meta(code) {
        return Err(format!(
            "{tname} is not a record type that can appear in a zone"
        ));
    }
    if code == u16::from(RecordType::RRSIG) {
        // One error per zone, not one per signature.
        if state.signed_reported {
            return Ok(None);
        }
        state.signed_reported = true;
        return Err(
            "RRSIG record: this zone is already signed, and geosteer signs zones itself: load \
             the unsigned zone, with its keys in the key directory (DS, DNSKEY, NSEC and \
             NSEC3 records alone are fine)"
                .into(),
        );
    }
    let ttl = match ttl {
        Some(t) => t,
        None => match state.default_ttl {
            Some(t) => t,
            None => {
                if !state.default_ttl_warned {
                    state.default_ttl_warned = true;
                    warn!(
                        "{}:{}: no TTL on this record and no $TTL before it: records without a \
                         TTL get {DEFAULT_TTL} s, as in NSD and Knot (add $TTL at the top of \
                         the file)",
                        path.display(),
                        entry.line
                    );
                }
                DEFAULT_TTL
            }
        },
    };

    let toks: Vec<Tok<'_>> = tokens
        .map(|t| Tok {
            text: &t.text,
            quoted: t.quoted,
        })
        .collect();
    let wire = rdata::parse(code, &toks, &state.origin)?;
    // The typed types must decode and write back the same octets; the checks and the cold
    // paths decode them again from the stored form.
    check_rdata(code, &wire).map_err(|e| format!("bad {tname} record: {e}"))?;
    Ok(Some(WireRecord::from_parts(&owner, code, 1, ttl, &wire)))
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
    /// The token as written, backslash escapes kept (each field reads them its own way); a
    /// quoted string without its quotes.
    text: String,
    quoted: bool,
}

/// The entries of a file, and the lexical errors found (with the line each starts on). An
/// error costs the entry it is in, not the file: reading goes on after it wherever the
/// structure allows.
#[cfg(test)]
#[derive(Debug, Default)]
struct Lexed {
    entries: Vec<Entry>,
    errors: Vec<(usize, String)>,
}

/// Splits master-file text into entries.
#[cfg(test)]
fn lex(text: &str) -> Lexed {
    let mut lexer = Lexer::new(text);
    let entries = lexer.by_ref().collect();
    Lexed {
        entries,
        errors: lexer.errors,
    }
}

/// Splits master-file text into entries, one at a time; errors gather in `errors`.
struct Lexer<'t> {
    chars: std::iter::Peekable<std::str::Chars<'t>>,
    /// (line, message) of each error met so far.
    errors: Vec<(usize, String)>,
    tokens: Vec<Token>,
    entry_line: usize,
    blank_owner: bool,
    at_line_start: bool,
    depth: usize,
    paren_line: usize,
    /// The entry being read had an error already reported: drop it when it ends.
    entry_bad: bool,
    line: usize,
    cur: String,
    done: bool,
}

impl<'t> Lexer<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            chars: text.chars().peekable(),
            errors: Vec::new(),
            tokens: Vec::new(),
            entry_line: 1,
            blank_owner: false,
            at_line_start: true,
            depth: 0,
            paren_line: 0,
            entry_bad: false,
            line: 1,
            cur: String::new(),
            done: false,
        }
    }

    fn flush(&mut self) {
        if !self.cur.is_empty() {
            self.tokens.push(Token {
                text: std::mem::take(&mut self.cur),
                quoted: false,
            });
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        if self.done {
            return None;
        }
        while let Some(c) = self.chars.next() {
            if self.at_line_start {
                self.at_line_start = false;
                if self.depth == 0 {
                    self.entry_line = self.line;
                    self.blank_owner = c == ' ' || c == '\t';
                }
            }
            match c {
                '\n' => {
                    self.flush();
                    let mut entry = None;
                    if self.depth == 0 {
                        if !self.tokens.is_empty() && !self.entry_bad {
                            entry = Some(Entry {
                                line: self.entry_line,
                                blank_owner: self.blank_owner,
                                tokens: std::mem::take(&mut self.tokens),
                            });
                        }
                        self.tokens.clear();
                        self.entry_bad = false;
                    }
                    self.line += 1;
                    self.at_line_start = true;
                    if entry.is_some() {
                        return entry;
                    }
                }
                ';' => {
                    self.flush();
                    while self.chars.peek().is_some_and(|&c| c != '\n') {
                        self.chars.next();
                    }
                }
                ' ' | '\t' | '\r' => self.flush(),
                '(' => {
                    self.flush();
                    if self.depth == 0 {
                        self.paren_line = self.line;
                    }
                    self.depth += 1;
                }
                ')' => {
                    self.flush();
                    if self.depth == 0 {
                        self.errors
                            .push((self.line, "')' without a matching '('".into()));
                        self.entry_bad = true;
                    } else {
                        self.depth -= 1;
                    }
                }
                '"' => {
                    self.flush();
                    let start = self.line;
                    let mut s = String::new();
                    loop {
                        match self.chars.next() {
                            None => {
                                // The rest of the file is inside the string: nothing more to
                                // read.
                                self.errors
                                    .push((start, "unterminated quoted string".into()));
                                self.done = true;
                                return None;
                            }
                            Some('\\') => {
                                s.push('\\');
                                if let Some(n) = self.chars.next() {
                                    if n == '\n' {
                                        self.line += 1;
                                    }
                                    s.push(n);
                                }
                            }
                            Some('"') => break,
                            Some(n) => {
                                if n == '\n' {
                                    self.line += 1;
                                }
                                s.push(n);
                            }
                        }
                    }
                    self.tokens.push(Token {
                        text: s,
                        quoted: true,
                    });
                }
                '\\' => {
                    self.cur.push('\\');
                    if let Some(n) = self.chars.next() {
                        if n == '\n' {
                            self.line += 1;
                        }
                        self.cur.push(n);
                    }
                }
                c => self.cur.push(c),
            }
        }
        self.done = true;
        if self.depth > 0 {
            self.errors
                .push((self.paren_line, "'(' is never closed".into()));
            return None;
        }
        self.flush();
        if !self.tokens.is_empty() && !self.entry_bad {
            return Some(Entry {
                line: self.entry_line,
                blank_owner: self.blank_owner,
                tokens: std::mem::take(&mut self.tokens),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexer_tracks_lines_across_parentheses_and_comments() {
        let text = "$TTL 300\n; comment\n@ IN SOA ns1 host (\n 1 ; serial\n 2 3 4 5 )\n\nwww A 192.0.2.1\n  AAAA 2001:db8::1\n";
        let lexed = lex(text);
        assert!(lexed.errors.is_empty());
        let entries = lexed.entries;
        let lines: Vec<usize> = entries.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![1, 3, 7, 8]);
        assert_eq!(entries[1].tokens.len(), 10);
        assert!(entries[3].blank_owner);
        assert!(!entries[2].blank_owner);
    }

    #[test]
    fn lexer_keeps_quoted_strings_whole() {
        let entries = lex("t TXT \"a ; b\" \"c\\\"d\"\n").entries;
        let texts: Vec<&str> = entries[0].tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, vec!["t", "TXT", "a ; b", "c\\\"d"]);
        assert!(entries[0].tokens[2].quoted);
    }

    #[test]
    fn lexer_reports_unbalanced_parentheses_with_their_line_and_goes_on() {
        assert_eq!(lex("a A 1.2.3.4\nb SOA (\n 1 2\n").errors[0].0, 2);
        let l = lex("a A 1.2.3.4 )\nb A 1.2.3.5\n");
        assert_eq!(l.errors[0].0, 1);
        assert_eq!(
            l.entries.len(),
            1,
            "the bad entry is dropped, the next kept"
        );
        assert_eq!(l.entries[0].line, 2);
        assert_eq!(lex("\n\nx TXT \"abc\n").errors[0].0, 3);
        // Entries before an unclosed parenthesis are kept.
        assert_eq!(lex("a A 1.2.3.4\nb SOA (\n 1 2\n").entries.len(), 1);
    }

    #[test]
    fn non_utf8_octets_become_escapes() {
        assert_eq!(escape_non_utf8(b"a\xffb"), "a\\255b");
    }
}
