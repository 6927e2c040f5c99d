//! Client location: country tables and the merged prefix tree maps are compiled into; the
//! GeoIP database to follow.

pub mod countries;
pub mod trie;
