//! Log formats: `--log-format text` (the default: one line per event, the message says it all)
//! and `--log-format json` (one JSON object per line, with the structured fields below).
//!
//! geosteer's own events that an operator may want to filter or alert on carry structured
//! fields beside their message, always with `event` naming what happened: [`FIELDS`]. A JSON
//! line holds `timestamp`, `level`, `target`, `message` and those fields, at the top level. A
//! text line shows the message alone for them (it already names every value), and
//! `name=value` after the message for the fields of any other event.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The structured field names geosteer's events use; stable (README: "Logs").
pub const FIELDS: &[&str] = &[
    "event",
    "zone",
    "pool",
    "origin",
    "address",
    "reason",
    "monitor",
    "at_start",
    "failures",
    "successes",
    "healthy_origins",
    "origins",
    "minimum_origins",
    "drained",
    "load_balancer",
    "previous_pool",
    "outcome",
    "clients",
];

/// The `text` format's field formatter: the message, then `name=value` for each other field,
/// except on geosteer's structured events (those with an `event` field), whose message
/// already says everything their fields hold.
pub struct TextFields;

impl<'w> FormatFields<'w> for TextFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut v = TextVisitor::default();
        fields.record(&mut v);
        let mut first = true;
        if let Some(m) = &v.message {
            writer.write_str(m)?;
            first = false;
        }
        if !v.structured {
            for (name, value) in &v.others {
                let sep = if first { "" } else { " " };
                first = false;
                write!(writer, "{sep}{name}={value}")?;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct TextVisitor {
    message: Option<String>,
    others: Vec<(&'static str, String)>,
    structured: bool,
}

impl Visit for TextVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            name => {
                if name == "event" {
                    self.structured = true;
                }
                self.others.push((name, format!("{value:?}")));
            }
        }
    }
}
