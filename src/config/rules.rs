//! Custom load-balancing rules: conditions in the subset of Cloudflare's Rules language that
//! a DNS-only load balancer can evaluate, parsed once at load.
//!
//! The parser is written by hand: the grammar is a dozen productions, errors must carry the
//! exact column, and the crates that parse the full Rules language (wirefilter) are not
//! published in a maintained form.
//!
//! ```text
//! expr    := or
//! or      := and (("or" | "||") and)*
//! and     := not (("and" | "&&") not)*
//! not     := ("not" | "!") not | "(" expr ")" | test
//! test    := field ("eq" | "==" | "ne" | "!=") value
//!          | field "in" "{" value* "}"
//! ```
//!
//! Fields: `ip.src` (addresses and networks), `ip.src.country`, `ip.src.continent`,
//! `ip.src.region` (Cloudflare load-balancing region, `WNAM`), `ip.src.subdivision_1_iso_code`
//! (`US-CA`), `ip.src.asnum`, `dns.qry.name`, `dns.qry.type`; `ip.geoip.*` is accepted for
//! `ip.src.*`, as Cloudflare does.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::Family;
use crate::geo::{Location, countries};

/// A parsed condition. Evaluation reads a [`Facts`] and allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Always true (an empty condition, as in Cloudflare).
    True,
    /// Both.
    And(Box<Condition>, Box<Condition>),
    /// Either.
    Or(Box<Condition>, Box<Condition>),
    /// Negation.
    Not(Box<Condition>),
    /// A field test.
    Test(Test),
}

/// One field compared with a set of values (`eq x` is `in {x}`; `ne` is `not … eq`).
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `ip.src in {…}`: the index of this network set among the rule set's
    /// ([`RuleSet::networks`]), so that the compiled prefix map can decide it.
    Network(usize),
    /// `ip.src.country`.
    Country(Vec<String>),
    /// `ip.src.continent`.
    Continent(Vec<String>),
    /// `ip.src.region`: a Cloudflare load-balancing region.
    Region(Vec<String>),
    /// `ip.src.subdivision_1_iso_code`, `CC-XXX`.
    Subdivision(Vec<String>),
    /// `ip.src.asnum`.
    Asn(Vec<u32>),
    /// `dns.qry.name`, lower case, without the final dot.
    QueryName(Vec<String>),
    /// `dns.qry.type`.
    QueryType(Vec<Family>),
}

/// What a condition is decided on.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The client's location, if the database knows it.
    pub location: Option<&'a Location>,
    /// The client's AS number, if the ASN database knows it.
    pub asn: Option<u32>,
    /// Bit `i` set: the client is in network set `i`.
    pub networks: u64,
    /// The query name, lower case, without the final dot.
    pub qname: &'a str,
    /// The address family asked for.
    pub family: Family,
}

impl Condition {
    /// Whether the condition holds for `f`.
    pub fn eval(&self, f: &Facts<'_>) -> bool {
        match self {
            Condition::True => true,
            Condition::And(a, b) => a.eval(f) && b.eval(f),
            Condition::Or(a, b) => a.eval(f) || b.eval(f),
            Condition::Not(a) => !a.eval(f),
            Condition::Test(t) => t.eval(f),
        }
    }

    /// Whether any test reads the client's location or AS (not only the query).
    pub fn reads_client(&self) -> bool {
        match self {
            Condition::True => false,
            Condition::And(a, b) | Condition::Or(a, b) => a.reads_client() || b.reads_client(),
            Condition::Not(a) => a.reads_client(),
            Condition::Test(t) => !matches!(t, Test::QueryName(_) | Test::QueryType(_)),
        }
    }

    /// Whether any test reads the AS number.
    pub fn reads_asn(&self) -> bool {
        self.any_test(&|t| matches!(t, Test::Asn(_)))
    }

    /// Whether any test reads the location database.
    pub fn reads_location(&self) -> bool {
        self.any_test(&|t| {
            matches!(
                t,
                Test::Country(_) | Test::Continent(_) | Test::Region(_) | Test::Subdivision(_)
            )
        })
    }

    /// Every AS number a test names.
    pub fn asns(&self, out: &mut Vec<u32>) {
        match self {
            Condition::True => {}
            Condition::And(a, b) | Condition::Or(a, b) => {
                a.asns(out);
                b.asns(out);
            }
            Condition::Not(a) => a.asns(out),
            Condition::Test(Test::Asn(v)) => out.extend(v),
            Condition::Test(_) => {}
        }
    }

    fn any_test(&self, p: &dyn Fn(&Test) -> bool) -> bool {
        match self {
            Condition::True => false,
            Condition::And(a, b) | Condition::Or(a, b) => a.any_test(p) || b.any_test(p),
            Condition::Not(a) => a.any_test(p),
            Condition::Test(t) => p(t),
        }
    }
}

impl Test {
    fn eval(&self, f: &Facts<'_>) -> bool {
        let loc = f.location;
        let has = |v: &[String], x: Option<&str>| x.is_some_and(|x| v.iter().any(|s| s == x));
        match self {
            Test::Network(i) => f.networks & (1u64 << i) != 0,
            Test::Country(v) => has(v, loc.and_then(Location::country)),
            Test::Continent(v) => has(v, loc.and_then(Location::continent)),
            Test::Region(v) => has(v, loc.and_then(Location::region)),
            Test::Subdivision(v) => has(v, loc.and_then(Location::subdivision)),
            Test::Asn(v) => f.asn.is_some_and(|a| v.contains(&a)),
            Test::QueryName(v) => v.iter().any(|s| s == f.qname),
            Test::QueryType(v) => v.contains(&f.family),
        }
    }
}

/// A parse error: where in the condition (a byte offset) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the condition text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at offset {}: {}", self.offset, self.message)
    }
}

/// The network sets of all `ip.src` tests of one load balancer's rules, numbered as
/// [`Test::Network`] refers to them. At most 64.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    /// Each `ip.src in {…}` (or `eq`) test's networks.
    pub networks: Vec<Vec<IpNet>>,
}

/// Most `ip.src` tests in one load balancer's rules (they are bits of a `u64`).
pub const MAX_NETWORK_TESTS: usize = 64;

/// Parses `text`, numbering its `ip.src` tests after those already in `set`.
pub fn parse(text: &str, set: &mut RuleSet) -> Result<Condition, ParseError> {
    let mut p = Parser {
        text,
        pos: 0,
        set,
        depth: 0,
    };
    p.skip_ws();
    if p.pos == text.len() {
        return Ok(Condition::True);
    }
    let c = p.or()?;
    p.skip_ws();
    if p.pos != text.len() {
        return Err(p.error_here("expected `and`, `or` or the end of the condition"));
    }
    Ok(c)
}

/// How deep parentheses and `not`s may nest: a bound on recursion, far above real rules.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    set: &'a mut RuleSet,
    depth: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Ip,
    Country,
    Continent,
    Region,
    Subdivision,
    Asn,
    QName,
    QType,
}

impl<'a> Parser<'a> {
    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            offset,
            message: message.into(),
        }
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn rest(&self) -> &'a str {
        let text = self.text;
        &text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        let n = r.len() - r.trim_start().len();
        self.pos += n;
    }

    /// A word (letters, digits, `.`, `_`, `:`, `/`, `-`) at the cursor, not consumed.
    fn word(&self) -> &'a str {
        let r = self.rest();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._:/-".contains(c)))
            .unwrap_or(r.len());
        &r[..end]
    }

    /// Consumes `kw` (a word or a symbol) if it is next.
    fn eat(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let is_word = kw.chars().all(|c| c.is_ascii_alphabetic());
        let matches = if is_word {
            self.word() == kw
        } else {
            self.rest().starts_with(kw)
        };
        if matches {
            self.pos += kw.len();
        }
        matches
    }

    fn or(&mut self) -> Result<Condition, ParseError> {
        let mut left = self.and()?;
        while self.eat("or") || self.eat("||") {
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, ParseError> {
        let mut left = self.not()?;
        while self.eat("and") || self.eat("&&") {
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!("nested more than {MAX_DEPTH} deep")));
        }
        let c = if self.eat("not") || self.eat("!") {
            Condition::Not(Box::new(self.not()?))
        } else if self.eat("(") {
            let c = self.or()?;
            if !self.eat(")") {
                return Err(self.error_here("expected `)`"));
            }
            c
        } else {
            self.test()?
        };
        self.depth -= 1;
        Ok(c)
    }

    fn test(&mut self) -> Result<Condition, ParseError> {
        self.skip_ws();
        let at = self.pos;
        let name = self.word().to_string();
        if name.is_empty() {
            return Err(self.error_here("expected a field, `not` or `(`"));
        }
        let field = match name.as_str() {
            "ip.src" => Field::Ip,
            "ip.src.country" | "ip.geoip.country" => Field::Country,
            "ip.src.continent" | "ip.geoip.continent" => Field::Continent,
            "ip.src.region" | "ip.geoip.region" => Field::Region,
            "ip.src.subdivision_1_iso_code" | "ip.geoip.subdivision_1_iso_code" => {
                Field::Subdivision
            }
            "ip.src.asnum" | "ip.geoip.asnum" => Field::Asn,
            "dns.qry.name" => Field::QName,
            "dns.qry.type" => Field::QType,
            _ => {
                return Err(self.error_at(
                    at,
                    format!(
                        "unknown field {name:?}: a DNS load balancer knows ip.src, \
                         ip.src.country, ip.src.continent, ip.src.region, \
                         ip.src.subdivision_1_iso_code, ip.src.asnum, dns.qry.name, dns.qry.type"
                    ),
                ));
            }
        };
        self.pos += name.len();
        self.skip_ws();
        let op_at = self.pos;
        let (negate, values) = if self.eat("eq") || self.eat("==") {
            (false, vec![self.value(field)?])
        } else if self.eat("ne") || self.eat("!=") {
            (true, vec![self.value(field)?])
        } else if self.eat("in") {
            if !self.eat("{") {
                return Err(self.error_here("expected `{` after `in`"));
            }
            let mut values = Vec::new();
            loop {
                self.skip_ws();
                if self.eat("}") {
                    break;
                }
                if self.pos == self.text.len() {
                    return Err(self.error_here("expected `}`"));
                }
                values.push(self.value(field)?);
            }
            if values.is_empty() {
                return Err(self.error_at(op_at, "an empty set matches nothing"));
            }
            (false, values)
        } else {
            return Err(self.error_at(op_at, format!("expected `eq`, `ne` or `in` after {name}")));
        };
        let test = self.make_test(field, values, at)?;
        let c = Condition::Test(test);
        Ok(if negate {
            Condition::Not(Box::new(c))
        } else {
            c
        })
    }

    fn make_test(
        &mut self,
        field: Field,
        values: Vec<Value>,
        at: usize,
    ) -> Result<Test, ParseError> {
        let strings = || {
            values
                .iter()
                .map(|v| match v {
                    Value::Str(s, _) => s.clone(),
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
        };
        Ok(match field {
            Field::Ip => {
                if self.set.networks.len() >= MAX_NETWORK_TESTS {
                    return Err(self.error_at(
                        at,
                        format!("more than {MAX_NETWORK_TESTS} ip.src tests in one load balancer"),
                    ));
                }
                let nets = values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Net(n) => Some(*n),
                        _ => None,
                    })
                    .collect();
                self.set.networks.push(nets);
                Test::Network(self.set.networks.len() - 1)
            }
            Field::Country => Test::Country(strings()),
            Field::Continent => Test::Continent(strings()),
            Field::Region => Test::Region(strings()),
            Field::Subdivision => Test::Subdivision(strings()),
            Field::QName => Test::QueryName(strings()),
            Field::Asn => Test::Asn(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Int(n) => Some(*n),
                        _ => None,
                    })
                    .collect(),
            ),
            Field::QType => Test::QueryType(
                values
                    .iter()
                    .filter_map(|v| match v {
                        Value::Type(f) => Some(*f),
                        _ => None,
                    })
                    .collect(),
            ),
        })
    }

    /// One value of the type `field` compares with, checked.
    fn value(&mut self, field: Field) -> Result<Value, ParseError> {
        self.skip_ws();
        let at = self.pos;
        match field {
            Field::Ip => {
                let w = self.word().to_string();
                if w.is_empty() {
                    return Err(self.error_here("expected an IP address or network"));
                }
                let net = match w.parse::<IpNet>() {
                    Ok(n) => n.trunc(),
                    Err(_) => match w.parse::<IpAddr>() {
                        Ok(a) => IpNet::from(a),
                        Err(_) => {
                            return Err(
                                self.error_at(at, format!("{w:?} is not an IP address or network"))
                            );
                        }
                    },
                };
                if let IpNet::V6(n) = net
                    && n.prefix_len() >= 96
                    && n.network().to_ipv4_mapped().is_some()
                {
                    return Err(self.error_at(
                        at,
                        "an IPv4-mapped network: write its IPv4 form (clients in that form \
                         are matched as IPv4)",
                    ));
                }
                self.pos += w.len();
                Ok(Value::Net(net))
            }
            Field::Asn => {
                let w = self.word().to_string();
                let n = w
                    .strip_prefix("AS")
                    .unwrap_or(&w)
                    .parse::<u32>()
                    .map_err(|_| self.error_at(at, format!("{w:?} is not an AS number")))?;
                self.pos += w.len();
                Ok(Value::Int(n))
            }
            Field::QType => {
                let s = self.string_or_word()?;
                let family = match s.to_ascii_uppercase().as_str() {
                    "A" | "1" => Family::V4,
                    "AAAA" | "28" => Family::V6,
                    _ => {
                        return Err(self.error_at(
                            at,
                            format!("query type {s:?}: a load balancer answers only A and AAAA"),
                        ));
                    }
                };
                Ok(Value::Type(family))
            }
            _ => {
                if !self.rest().starts_with('"') {
                    return Err(self.error_here("expected a string in double quotes"));
                }
                let s = self.string()?;
                let (ok, what, norm) = match field {
                    Field::Country => {
                        let u = s.to_ascii_uppercase();
                        (countries::is_country(&u), "country code", u)
                    }
                    Field::Continent => {
                        let u = s.to_ascii_uppercase();
                        (countries::is_continent(&u), "continent code", u)
                    }
                    Field::Region => {
                        let u = s.to_ascii_uppercase();
                        (countries::is_region(&u), "load-balancing region", u)
                    }
                    Field::Subdivision => {
                        let u = s.to_ascii_uppercase();
                        (
                            countries::is_subdivision(&u),
                            "subdivision code (CC-XXX)",
                            u,
                        )
                    }
                    _ => {
                        let n = s.trim_end_matches('.').to_ascii_lowercase();
                        (!n.is_empty(), "query name", n)
                    }
                };
                if !ok {
                    return Err(self.error_at(at, format!("unknown {what} {s:?}")));
                }
                Ok(Value::Str(norm, at))
            }
        }
    }

    fn string_or_word(&mut self) -> Result<String, ParseError> {
        if self.rest().starts_with('"') {
            return self.string();
        }
        let w = self.word().to_string();
        if w.is_empty() {
            return Err(self.error_here("expected a value"));
        }
        self.pos += w.len();
        Ok(w)
    }

    /// A double-quoted string with `\"` and `\\` escapes.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    _ => {
                        return Err(self.error_at(self.pos + i, "only \\\" and \\\\ are escapes"));
                    }
                },
                c => out.push(c),
            }
        }
        Err(self.error_at(start, "unterminated string"))
    }
}

#[derive(Debug)]
enum Value {
    Str(String, #[allow(dead_code)] usize),
    Int(u32),
    Net(IpNet),
    Type(Family),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(loc: Option<&'a Location>, asn: Option<u32>, nets: u64) -> Facts<'a> {
        Facts {
            location: loc,
            asn,
            networks: nets,
            qname: "www.example.com",
            family: Family::V4,
        }
    }

    #[test]
    fn parses_and_evaluates_the_subset() {
        let mut set = RuleSet::default();
        let c = parse(
            r#"(ip.src in {198.51.100.0/24 2001:db8::/32} or ip.src.country eq "de") and not dns.qry.type eq "AAAA""#,
            &mut set,
        )
        .unwrap();
        assert_eq!(set.networks.len(), 1);
        assert_eq!(set.networks[0][0].to_string(), "198.51.100.0/24");
        let de = Location::new(None, Some("DE"), None, None, None);
        let fr = Location::new(None, Some("FR"), None, None, None);
        assert!(c.eval(&facts(Some(&de), None, 0)));
        assert!(!c.eval(&facts(Some(&fr), None, 0)));
        assert!(c.eval(&facts(Some(&fr), None, 1)));
        let mut f = facts(Some(&de), None, 0);
        f.family = Family::V6;
        assert!(!c.eval(&f));
        assert!(c.reads_client() && c.reads_location() && !c.reads_asn());
    }

    #[test]
    fn asn_names_strings_sets_and_precedence() {
        let mut set = RuleSet::default();
        let c = parse(
            r#"ip.src.asnum in {64500 AS64501} || dns.qry.name eq "WWW.example.com." && ip.src.continent ne "EU""#,
            &mut set,
        )
        .unwrap();
        // `and` binds tighter than `or`.
        assert!(c.eval(&facts(None, Some(64501), 0)));
        assert!(
            c.eval(&facts(None, None, 0)),
            "name matches, continent unknown is not EU"
        );
        let eu = Location::new(Some("EU"), Some("DE"), None, None, None);
        assert!(!c.eval(&facts(Some(&eu), Some(1), 0)));
        let mut v = Vec::new();
        c.asns(&mut v);
        assert_eq!(v, [64500, 64501]);
        assert_eq!(parse("  ", &mut set).unwrap(), Condition::True);
        assert!(
            !parse("dns.qry.type eq \"A\"", &mut set)
                .unwrap()
                .reads_client()
        );
    }

    #[test]
    fn errors_point_at_the_offending_column() {
        let mut set = RuleSet::default();
        let cases = [
            ("ip.src.country eq \"XX\"", 18, "unknown country code"),
            ("ip.src in {198.51.100.0/33}", 11, "not an IP address"),
            ("ip.src.colour eq \"red\"", 0, "unknown field"),
            ("ip.src.asnum eq 64500 and", 25, "expected a field"),
            ("(ip.src.country eq \"DE\"", 23, "expected `)`"),
            ("ip.src.country eq \"DE", 18, "unterminated"),
            ("dns.qry.type eq \"MX\"", 16, "only A and AAAA"),
            ("ip.src.country is \"DE\"", 15, "expected `eq`"),
            ("ip.src.country eq \"DE\" ip.src", 23, "expected `and`"),
            ("ip.src in {}", 7, "empty set"),
        ];
        for (text, offset, needle) in cases {
            let e = parse(text, &mut set).unwrap_err();
            assert_eq!(e.offset, offset, "{text}: {e}");
            assert!(e.message.contains(needle), "{text}: {e}");
        }
        let deep = "not ".repeat(100) + "ip.src.asnum eq 1";
        assert!(
            parse(&deep, &mut set)
                .unwrap_err()
                .message
                .contains("nested")
        );
    }
}
