//! TEMPORARY stub.
pub fn is_country(s: &str) -> bool {
    s.len() == 2
}
pub fn is_continent(s: &str) -> bool {
    ["AF", "AN", "AS", "EU", "NA", "OC", "SA"].contains(&s)
}
pub fn is_region(s: &str) -> bool {
    [
        "WNAM", "ENAM", "WEU", "EEU", "NSAM", "SSAM", "OC", "ME", "NAF", "SAF", "SAS", "SEAS",
        "NEAS",
    ]
    .contains(&s)
}
pub fn is_subdivision(s: &str) -> bool {
    s.len() > 3 && s.as_bytes()[2] == b'-'
}
