//! Client location: country tables now; the GeoIP database and prefix maps to follow.

pub mod countries;
