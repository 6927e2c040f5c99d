//! Built-in country tables: continent and Cloudflare load-balancing region per country, and the
//! state/province split of the United States and Canada between the two North American regions.
//!
//! Continents are the seven GeoNames codes, which are what MaxMind puts in `continent.code`
//! (RU → EU, TR → AS, EG → AF, MX and PA → NA, CY → EU, TL → OC). A database that lacks
//! `continent_code` (the flat DB-IP repackagings) gets its continent from here, so a location
//! means the same thing whichever database it came from.
//!
//! Regions are Cloudflare's 13 load-balancing regions. Cloudflare publishes the mapping only
//! through its authenticated Regions API; the one public fragment is the example response of
//! `GET /load_balancers/regions/WNAM` in its API reference (developers.cloudflare.com/api,
//! "Get Region"), which lists for WNAM: Canada AB and BC, Haiti, Mexico, and the US states AZ,
//! CA, CO, HI, MN, MO, NV, OR, TX, UT, WA. Those entries follow it and are marked
//! "published". Everything else is our own decision, made by geography and by where a
//! country's traffic is usually carried (Central America and the Caribbean through Miami,
//! Central Asia through Moscow), and is marked in comments where it is not obvious.

use std::cmp::Ordering;

/// The continent codes MaxMind uses.
pub const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];

/// Cloudflare's load-balancing regions.
pub const REGIONS: [&str; 13] = [
    "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS", "NEAS",
];

/// A point for each of [`REGIONS`] (same order), in degrees of latitude and longitude: the
/// metropolitan area that carries most of the region's traffic. `serve --location REGION`
/// places an instance there, and the instance nearest to a client's region is the one whose
/// RTTs steer its `dynamic` answers (README: "Running several name servers").
pub const REGION_COORDINATES: [(f64, f64); 13] = [
    (34.05, -118.24), // WNAM: Los Angeles
    (40.71, -74.01),  // ENAM: New York
    (50.11, 8.68),    // WEU: Frankfurt
    (52.23, 21.01),   // EEU: Warsaw
    (4.71, -74.07),   // NSAM: Bogotá
    (-23.55, -46.63), // SSAM: São Paulo
    (-33.87, 151.21), // OC: Sydney
    (25.20, 55.27),   // ME: Dubai
    (30.04, 31.24),   // NAF: Cairo
    (-26.20, 28.05),  // SAF: Johannesburg
    (19.08, 72.88),   // SAS: Mumbai
    (1.35, 103.82),   // SEAS: Singapore
    (35.68, 139.69),  // NEAS: Tokyo
];

/// Slots of a by-region table: one per region of [`REGIONS`], and the last for an unknown one.
pub const REGION_SLOTS: usize = REGIONS.len() + 1;

/// The slot of an unknown region in a by-region table.
pub const UNKNOWN_REGION: u8 = REGIONS.len() as u8;

/// The index of a region code in [`REGIONS`].
pub fn region_index(code: &str) -> Option<u8> {
    REGIONS.iter().position(|r| *r == code).map(|i| i as u8)
}

/// `(country, continent, region)`, sorted by country for binary search.
///
/// The US and CA rows hold the region of an address whose state or province is unknown: ENAM,
/// where most of both populations live.
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("AD", "EU", "WEU"),
    ("AE", "AS", "ME"),
    ("AF", "AS", "SAS"),
    ("AG", "NA", "ENAM"),
    ("AI", "NA", "ENAM"),
    ("AL", "EU", "EEU"),
    // The Caucasus and Central Asia reach the rest of the Internet through Istanbul, Moscow and
    // Frankfurt rather than the Gulf or India: EEU.
    ("AM", "AS", "EEU"),
    ("AO", "AF", "SAF"),
    // Antarctica and the sub-Antarctic islands: the nearest region by sea.
    ("AQ", "AN", "OC"),
    ("AR", "SA", "SSAM"),
    ("AS", "OC", "OC"),
    // The east/west line through Europe is the old one: AT, the Nordics and Italy are WEU;
    // the former Eastern bloc, the Balkans, Greece and Cyprus are EEU.
    ("AT", "EU", "WEU"),
    ("AU", "OC", "OC"),
    // The Caribbean, like Central America, is carried through Miami: ENAM.
    ("AW", "NA", "ENAM"),
    ("AX", "EU", "WEU"),
    ("AZ", "AS", "EEU"),
    ("BA", "EU", "EEU"),
    ("BB", "NA", "ENAM"),
    ("BD", "AS", "SAS"),
    ("BE", "EU", "WEU"),
    // Africa has two regions; a country whose capital lies north of the equator is NAF.
    ("BF", "AF", "NAF"),
    ("BG", "EU", "EEU"),
    ("BH", "AS", "ME"),
    ("BI", "AF", "SAF"),
    ("BJ", "AF", "NAF"),
    ("BL", "NA", "ENAM"),
    ("BM", "NA", "ENAM"),
    ("BN", "AS", "SEAS"),
    ("BO", "SA", "SSAM"),
    ("BQ", "NA", "ENAM"),
    // Most Brazilians live in the south-east (São Paulo, Rio), closer to Buenos Aires and
    // Santiago than to Bogotá: SSAM.
    ("BR", "SA", "SSAM"),
    ("BS", "NA", "ENAM"),
    ("BT", "AS", "SAS"),
    ("BV", "AN", "SAF"),
    ("BW", "AF", "SAF"),
    ("BY", "EU", "EEU"),
    ("BZ", "NA", "ENAM"),
    ("CA", "NA", "ENAM"),
    // Cocos and Christmas Island are Australian territories, connected through Australia.
    ("CC", "AS", "OC"),
    ("CD", "AF", "SAF"),
    ("CF", "AF", "NAF"),
    ("CG", "AF", "SAF"),
    ("CH", "EU", "WEU"),
    ("CI", "AF", "NAF"),
    ("CK", "OC", "OC"),
    ("CL", "SA", "SSAM"),
    ("CM", "AF", "NAF"),
    ("CN", "AS", "NEAS"),
    ("CO", "SA", "NSAM"),
    // Central America is carried through Miami: ENAM (Mexico alone is published as WNAM).
    ("CR", "NA", "ENAM"),
    ("CU", "NA", "ENAM"),
    ("CV", "AF", "NAF"),
    ("CW", "NA", "ENAM"),
    ("CX", "OC", "OC"),
    ("CY", "EU", "EEU"),
    ("CZ", "EU", "EEU"),
    ("DE", "EU", "WEU"),
    ("DJ", "AF", "NAF"),
    ("DK", "EU", "WEU"),
    ("DM", "NA", "ENAM"),
    ("DO", "NA", "ENAM"),
    ("DZ", "AF", "NAF"),
    ("EC", "SA", "NSAM"),
    ("EE", "EU", "EEU"),
    ("EG", "AF", "NAF"),
    ("EH", "AF", "NAF"),
    ("ER", "AF", "NAF"),
    ("ES", "EU", "WEU"),
    ("ET", "AF", "NAF"),
    ("FI", "EU", "WEU"),
    ("FJ", "OC", "OC"),
    ("FK", "SA", "SSAM"),
    ("FM", "OC", "OC"),
    ("FO", "EU", "WEU"),
    ("FR", "EU", "WEU"),
    ("GA", "AF", "NAF"),
    ("GB", "EU", "WEU"),
    ("GD", "NA", "ENAM"),
    ("GE", "AS", "EEU"),
    ("GF", "SA", "NSAM"),
    ("GG", "EU", "WEU"),
    ("GH", "AF", "NAF"),
    ("GI", "EU", "WEU"),
    // Greenland's cable lands in Newfoundland and Iceland; it is North American: ENAM.
    ("GL", "NA", "ENAM"),
    ("GM", "AF", "NAF"),
    ("GN", "AF", "NAF"),
    ("GP", "NA", "ENAM"),
    ("GQ", "AF", "NAF"),
    ("GR", "EU", "EEU"),
    ("GS", "AN", "SSAM"),
    ("GT", "NA", "ENAM"),
    ("GU", "OC", "OC"),
    ("GW", "AF", "NAF"),
    ("GY", "SA", "NSAM"),
    ("HK", "AS", "NEAS"),
    ("HM", "AN", "OC"),
    ("HN", "NA", "ENAM"),
    ("HR", "EU", "EEU"),
    // Published as WNAM, though its neighbour DO (ours) is ENAM.
    ("HT", "NA", "WNAM"),
    ("HU", "EU", "EEU"),
    ("ID", "AS", "SEAS"),
    ("IE", "EU", "WEU"),
    ("IL", "AS", "ME"),
    ("IM", "EU", "WEU"),
    ("IN", "AS", "SAS"),
    ("IO", "AS", "SAS"),
    ("IQ", "AS", "ME"),
    ("IR", "AS", "ME"),
    ("IS", "EU", "WEU"),
    ("IT", "EU", "WEU"),
    ("JE", "EU", "WEU"),
    ("JM", "NA", "ENAM"),
    ("JO", "AS", "ME"),
    ("JP", "AS", "NEAS"),
    ("KE", "AF", "SAF"),
    ("KG", "AS", "EEU"),
    ("KH", "AS", "SEAS"),
    ("KI", "OC", "OC"),
    ("KM", "AF", "SAF"),
    ("KN", "NA", "ENAM"),
    ("KP", "AS", "NEAS"),
    ("KR", "AS", "NEAS"),
    ("KW", "AS", "ME"),
    ("KY", "NA", "ENAM"),
    ("KZ", "AS", "EEU"),
    ("LA", "AS", "SEAS"),
    ("LB", "AS", "ME"),
    ("LC", "NA", "ENAM"),
    ("LI", "EU", "WEU"),
    ("LK", "AS", "SAS"),
    ("LR", "AF", "NAF"),
    ("LS", "AF", "SAF"),
    ("LT", "EU", "EEU"),
    ("LU", "EU", "WEU"),
    ("LV", "EU", "EEU"),
    ("LY", "AF", "NAF"),
    ("MA", "AF", "NAF"),
    ("MC", "EU", "WEU"),
    ("MD", "EU", "EEU"),
    ("ME", "EU", "EEU"),
    ("MF", "NA", "ENAM"),
    ("MG", "AF", "SAF"),
    ("MH", "OC", "OC"),
    ("MK", "EU", "EEU"),
    ("ML", "AF", "NAF"),
    ("MM", "AS", "SEAS"),
    ("MN", "AS", "NEAS"),
    ("MO", "AS", "NEAS"),
    ("MP", "OC", "OC"),
    ("MQ", "NA", "ENAM"),
    ("MR", "AF", "NAF"),
    ("MS", "NA", "ENAM"),
    ("MT", "EU", "WEU"),
    ("MU", "AF", "SAF"),
    ("MV", "AS", "SAS"),
    ("MW", "AF", "SAF"),
    // Published.
    ("MX", "NA", "WNAM"),
    ("MY", "AS", "SEAS"),
    ("MZ", "AF", "SAF"),
    ("NA", "AF", "SAF"),
    ("NC", "OC", "OC"),
    ("NE", "AF", "NAF"),
    ("NF", "OC", "OC"),
    ("NG", "AF", "NAF"),
    ("NI", "NA", "ENAM"),
    ("NL", "EU", "WEU"),
    ("NO", "EU", "WEU"),
    ("NP", "AS", "SAS"),
    ("NR", "OC", "OC"),
    ("NU", "OC", "OC"),
    ("NZ", "OC", "OC"),
    ("OM", "AS", "ME"),
    ("PA", "NA", "ENAM"),
    ("PE", "SA", "NSAM"),
    ("PF", "OC", "OC"),
    ("PG", "OC", "OC"),
    ("PH", "AS", "SEAS"),
    ("PK", "AS", "SAS"),
    ("PL", "EU", "EEU"),
    ("PM", "NA", "ENAM"),
    ("PN", "OC", "OC"),
    ("PR", "NA", "ENAM"),
    ("PS", "AS", "ME"),
    ("PT", "EU", "WEU"),
    ("PW", "OC", "OC"),
    ("PY", "SA", "SSAM"),
    ("QA", "AS", "ME"),
    ("RE", "AF", "SAF"),
    ("RO", "EU", "EEU"),
    ("RS", "EU", "EEU"),
    ("RU", "EU", "EEU"),
    ("RW", "AF", "SAF"),
    ("SA", "AS", "ME"),
    ("SB", "OC", "OC"),
    ("SC", "AF", "SAF"),
    ("SD", "AF", "NAF"),
    ("SE", "EU", "WEU"),
    ("SG", "AS", "SEAS"),
    ("SH", "AF", "SAF"),
    ("SI", "EU", "EEU"),
    ("SJ", "EU", "WEU"),
    ("SK", "EU", "EEU"),
    ("SL", "AF", "NAF"),
    ("SM", "EU", "WEU"),
    ("SN", "AF", "NAF"),
    ("SO", "AF", "NAF"),
    ("SR", "SA", "NSAM"),
    ("SS", "AF", "NAF"),
    ("ST", "AF", "NAF"),
    ("SV", "NA", "ENAM"),
    ("SX", "NA", "ENAM"),
    ("SY", "AS", "ME"),
    ("SZ", "AF", "SAF"),
    ("TC", "NA", "ENAM"),
    ("TD", "AF", "NAF"),
    ("TF", "AN", "SAF"),
    ("TG", "AF", "NAF"),
    ("TH", "AS", "SEAS"),
    ("TJ", "AS", "EEU"),
    ("TK", "OC", "OC"),
    // GeoNames puts Timor-Leste in Oceania; its traffic goes through Indonesia: SEAS.
    ("TL", "OC", "SEAS"),
    ("TM", "AS", "EEU"),
    ("TN", "AF", "NAF"),
    ("TO", "OC", "OC"),
    // Turkey's traffic goes west through Istanbul to Sofia and Frankfurt, not to the Gulf.
    ("TR", "AS", "EEU"),
    ("TT", "NA", "ENAM"),
    ("TV", "OC", "OC"),
    ("TW", "AS", "NEAS"),
    ("TZ", "AF", "SAF"),
    ("UA", "EU", "EEU"),
    ("UG", "AF", "NAF"),
    ("UM", "OC", "OC"),
    ("US", "NA", "ENAM"),
    ("UY", "SA", "SSAM"),
    ("UZ", "AS", "EEU"),
    ("VA", "EU", "WEU"),
    ("VC", "NA", "ENAM"),
    ("VE", "SA", "NSAM"),
    ("VG", "NA", "ENAM"),
    ("VI", "NA", "ENAM"),
    ("VN", "AS", "SEAS"),
    ("VU", "OC", "OC"),
    ("WF", "OC", "OC"),
    ("WS", "OC", "OC"),
    // Kosovo has no ISO 3166-1 code; XK is the user-assigned code MaxMind and DB-IP use.
    ("XK", "EU", "EEU"),
    ("YE", "AS", "ME"),
    ("YT", "AF", "SAF"),
    ("ZA", "AF", "SAF"),
    ("ZM", "AF", "SAF"),
    ("ZW", "AF", "SAF"),
];

/// US states (ISO 3166-2:US, with DC and the outlying areas) and Canadian provinces and
/// territories: `(country, code, name, region)`, sorted by country and code.
///
/// The names are there because DB-IP's databases give a subdivision's English name, not its
/// code. WNAM holds the published states and provinces plus, by our decision, the rest of the
/// states west of the Mississippi (MN, MO and TX are published as WNAM, so the river is where
/// Cloudflare draws the line) and the prairie and northern provinces west of Ontario.
const SUBDIVISIONS: &[(&str, &str, &str, &str)] = &[
    ("CA", "AB", "Alberta", "WNAM"),
    ("CA", "BC", "British Columbia", "WNAM"),
    ("CA", "MB", "Manitoba", "WNAM"),
    ("CA", "NB", "New Brunswick", "ENAM"),
    ("CA", "NL", "Newfoundland and Labrador", "ENAM"),
    ("CA", "NS", "Nova Scotia", "ENAM"),
    ("CA", "NT", "Northwest Territories", "WNAM"),
    ("CA", "NU", "Nunavut", "ENAM"),
    ("CA", "ON", "Ontario", "ENAM"),
    ("CA", "PE", "Prince Edward Island", "ENAM"),
    ("CA", "QC", "Quebec", "ENAM"),
    ("CA", "SK", "Saskatchewan", "WNAM"),
    ("CA", "YT", "Yukon", "WNAM"),
    ("US", "AK", "Alaska", "WNAM"),
    ("US", "AL", "Alabama", "ENAM"),
    ("US", "AR", "Arkansas", "WNAM"),
    ("US", "AS", "American Samoa", "WNAM"),
    ("US", "AZ", "Arizona", "WNAM"),
    ("US", "CA", "California", "WNAM"),
    ("US", "CO", "Colorado", "WNAM"),
    ("US", "CT", "Connecticut", "ENAM"),
    ("US", "DC", "District of Columbia", "ENAM"),
    ("US", "DE", "Delaware", "ENAM"),
    ("US", "FL", "Florida", "ENAM"),
    ("US", "GA", "Georgia", "ENAM"),
    ("US", "GU", "Guam", "WNAM"),
    ("US", "HI", "Hawaii", "WNAM"),
    ("US", "IA", "Iowa", "WNAM"),
    ("US", "ID", "Idaho", "WNAM"),
    ("US", "IL", "Illinois", "ENAM"),
    ("US", "IN", "Indiana", "ENAM"),
    ("US", "KS", "Kansas", "WNAM"),
    ("US", "KY", "Kentucky", "ENAM"),
    ("US", "LA", "Louisiana", "WNAM"),
    ("US", "MA", "Massachusetts", "ENAM"),
    ("US", "MD", "Maryland", "ENAM"),
    ("US", "ME", "Maine", "ENAM"),
    ("US", "MI", "Michigan", "ENAM"),
    ("US", "MN", "Minnesota", "WNAM"),
    ("US", "MO", "Missouri", "WNAM"),
    ("US", "MP", "Northern Mariana Islands", "WNAM"),
    ("US", "MS", "Mississippi", "ENAM"),
    ("US", "MT", "Montana", "WNAM"),
    ("US", "NC", "North Carolina", "ENAM"),
    ("US", "ND", "North Dakota", "WNAM"),
    ("US", "NE", "Nebraska", "WNAM"),
    ("US", "NH", "New Hampshire", "ENAM"),
    ("US", "NJ", "New Jersey", "ENAM"),
    ("US", "NM", "New Mexico", "WNAM"),
    ("US", "NV", "Nevada", "WNAM"),
    ("US", "NY", "New York", "ENAM"),
    ("US", "OH", "Ohio", "ENAM"),
    ("US", "OK", "Oklahoma", "WNAM"),
    ("US", "OR", "Oregon", "WNAM"),
    ("US", "PA", "Pennsylvania", "ENAM"),
    ("US", "PR", "Puerto Rico", "ENAM"),
    ("US", "RI", "Rhode Island", "ENAM"),
    ("US", "SC", "South Carolina", "ENAM"),
    ("US", "SD", "South Dakota", "WNAM"),
    ("US", "TN", "Tennessee", "ENAM"),
    ("US", "TX", "Texas", "WNAM"),
    ("US", "UM", "United States Minor Outlying Islands", "WNAM"),
    ("US", "UT", "Utah", "WNAM"),
    ("US", "VA", "Virginia", "ENAM"),
    ("US", "VI", "U.S. Virgin Islands", "ENAM"),
    ("US", "VT", "Vermont", "ENAM"),
    ("US", "WA", "Washington", "WNAM"),
    ("US", "WI", "Wisconsin", "ENAM"),
    ("US", "WV", "West Virginia", "ENAM"),
    ("US", "WY", "Wyoming", "WNAM"),
];

fn country_row(country: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    COUNTRIES
        .binary_search_by(|row| row.0.cmp(country))
        .ok()
        .map(|i| &COUNTRIES[i])
}

fn subdivision_row(
    country: &str,
    code: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str)> {
    SUBDIVISIONS
        .binary_search_by(|row| match row.0.cmp(country) {
            Ordering::Equal => row.1.cmp(code),
            o => o,
        })
        .ok()
        .map(|i| &SUBDIVISIONS[i])
}

/// Every country code known here, in order.
pub fn all() -> impl Iterator<Item = &'static str> {
    COUNTRIES.iter().map(|row| row.0)
}

/// An ISO 3166-1 alpha-2 country code (upper case), or XK.
pub fn is_country(code: &str) -> bool {
    country_row(code).is_some()
}

/// One of the seven continent codes (AF AN AS EU NA OC SA).
pub fn is_continent(code: &str) -> bool {
    CONTINENTS.contains(&code)
}

/// One of Cloudflare's load-balancing region codes (`WEU`, `ENAM`, …).
pub fn is_region(code: &str) -> bool {
    REGIONS.contains(&code)
}

/// A subdivision written `CC-XXX`: a known country, a dash, then 1–3 upper-case letters or
/// digits. Only the form is checked: the subdivisions of most countries are not tabled here.
pub fn is_subdivision(code: &str) -> bool {
    let Some((country, sub)) = code.split_once('-') else {
        return false;
    };
    is_country(country) && is_subdivision_part(sub)
}

/// The part of an ISO 3166-2 code after the dash: 1–3 upper-case letters or digits.
pub fn is_subdivision_part(sub: &str) -> bool {
    (1..=3).contains(&sub.len())
        && sub
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The continent code of a country code.
pub fn continent_of(country: &str) -> Option<&'static str> {
    country_row(country).map(|row| row.1)
}

/// The Cloudflare region of a country and, for the US and Canada, of a state or province.
/// `subdivision` may be written `US-CA` or just `CA`; an unknown one gets the country's region.
pub fn region_of(country: &str, subdivision: Option<&str>) -> Option<&'static str> {
    let row = country_row(country)?;
    let sub = subdivision.map(|s| match s.split_once('-') {
        Some((c, rest)) if c == country => rest,
        _ => s,
    });
    if let Some(sub) = sub
        && let Some(srow) = subdivision_row(country, sub)
    {
        return Some(srow.3);
    }
    Some(row.2)
}

/// The ISO 3166-2 code (without the country part) of a US state or Canadian province given by
/// its English name, compared case-insensitively.
pub fn subdivision_code_from_name(country: &str, name: &str) -> Option<&'static str> {
    SUBDIVISIONS
        .iter()
        .find(|row| row.0 == country && row.2.eq_ignore_ascii_case(name))
        .map(|row| row.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_complete() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            SUBDIVISIONS
                .windows(2)
                .all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1))
        );
        // The 249 ISO 3166-1 codes plus XK.
        assert_eq!(COUNTRIES.len(), 250);
        for (c, cont, reg) in COUNTRIES {
            assert!(
                c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()),
                "{c}"
            );
            assert!(is_continent(cont), "{c}: {cont}");
            assert!(is_region(reg), "{c}: {reg}");
        }
        for (_, code, _, reg) in SUBDIVISIONS {
            assert!(is_subdivision_part(code));
            assert!(*reg == "WNAM" || *reg == "ENAM");
        }
        // 50 states, DC and the six outlying areas; 10 provinces and 3 territories.
        assert_eq!(SUBDIVISIONS.iter().filter(|r| r.0 == "US").count(), 57);
        assert_eq!(SUBDIVISIONS.iter().filter(|r| r.0 == "CA").count(), 13);
    }

    #[test]
    fn continents_as_maxmind_assigns_them() {
        for (country, continent) in [
            ("RU", "EU"),
            ("TR", "AS"),
            ("EG", "AF"),
            ("MX", "NA"),
            ("PA", "NA"),
            ("CY", "EU"),
            ("TL", "OC"),
            ("AQ", "AN"),
            ("BR", "SA"),
            ("DE", "EU"),
            ("JP", "AS"),
            ("AU", "OC"),
        ] {
            assert_eq!(continent_of(country), Some(continent), "{country}");
        }
        assert_eq!(continent_of("ZZ"), None);
        assert_eq!(continent_of("us"), None);
    }

    #[test]
    fn regions_follow_the_published_fragment() {
        for s in [
            "AZ", "CA", "CO", "HI", "MN", "MO", "NV", "OR", "TX", "UT", "WA",
        ] {
            assert_eq!(region_of("US", Some(s)), Some("WNAM"), "US-{s}");
        }
        assert_eq!(region_of("CA", Some("AB")), Some("WNAM"));
        assert_eq!(region_of("CA", Some("CA-BC")), Some("WNAM"));
        assert_eq!(region_of("MX", None), Some("WNAM"));
        assert_eq!(region_of("HT", None), Some("WNAM"));
    }

    #[test]
    fn regions() {
        assert_eq!(region_of("US", Some("US-NY")), Some("ENAM"));
        assert_eq!(region_of("US", Some("DC")), Some("ENAM"));
        assert_eq!(region_of("US", None), Some("ENAM"));
        assert_eq!(region_of("US", Some("XX")), Some("ENAM"));
        assert_eq!(region_of("CA", Some("QC")), Some("ENAM"));
        assert_eq!(region_of("DE", Some("DE-HE")), Some("WEU"));
        assert_eq!(region_of("PL", None), Some("EEU"));
        assert_eq!(region_of("JP", None), Some("NEAS"));
        assert_eq!(region_of("SG", None), Some("SEAS"));
        assert_eq!(region_of("IN", None), Some("SAS"));
        assert_eq!(region_of("AE", None), Some("ME"));
        assert_eq!(region_of("EG", None), Some("NAF"));
        assert_eq!(region_of("ZA", None), Some("SAF"));
        assert_eq!(region_of("CO", None), Some("NSAM"));
        assert_eq!(region_of("AR", None), Some("SSAM"));
        assert_eq!(region_of("AU", None), Some("OC"));
        assert_eq!(region_of("ZZ", None), None);
        // Every region is used.
        for r in REGIONS {
            assert!(COUNTRIES.iter().any(|row| row.2 == r), "{r}");
        }
    }

    #[test]
    fn validation() {
        assert!(is_country("DE") && is_country("XK"));
        assert!(!is_country("UK") && !is_country("de") && !is_country("DEU"));
        assert!(is_continent("AN") && !is_continent("EUR"));
        assert!(is_region("SEAS") && !is_region("IN") && !is_region("weu"));
        assert!(is_subdivision("US-CA") && is_subdivision("GB-ENG") && is_subdivision("FR-75"));
        assert!(is_subdivision("JP-1"));
        assert!(!is_subdivision("US-") && !is_subdivision("US-CALI"));
        assert!(!is_subdivision("ZZ-CA") && !is_subdivision("US_CA") && !is_subdivision("US-ca"));
        assert!(!is_subdivision("USCA"));
    }

    #[test]
    fn names_to_codes() {
        assert_eq!(subdivision_code_from_name("US", "California"), Some("CA"));
        assert_eq!(subdivision_code_from_name("US", "new york"), Some("NY"));
        assert_eq!(
            subdivision_code_from_name("CA", "British Columbia"),
            Some("BC")
        );
        assert_eq!(subdivision_code_from_name("DE", "Hesse"), None);
    }
}
