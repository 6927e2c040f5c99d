//! The DNS wire format as geosteer reads and writes it: names ([`WireName`] and the one name
//! walker), the walk over a message's sections, records rendered once at load time so that
//! writing an answer is copying bytes ([`RecordSet`], [`NameWriter`]), and the reasons a
//! message is malformed ([`WireError`]).
//!
//! It depends on nothing else in the crate: zone data is stored in these forms and the query
//! path reads and writes them.

mod error;
pub mod message;
mod name;
mod record;

pub use error::WireError;
pub use name::{MAX_NAME_LEN, Pointers, WireName, name_end, name_wire, walk_name};
pub use record::{NameWriter, RecordSet, WireRecord, check_rdata, rdata_from_wire, wire_to_name};
