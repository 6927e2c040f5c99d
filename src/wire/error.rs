//! Why a query was malformed: a reason from a small fixed set, so that it can be counted and
//! logged without allocating.

use std::fmt;

/// Why a query got FORMERR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The packet ends inside a name, a question or a record.
    Truncated,
    /// A label of a reserved type (the top bits 01 or 10).
    BadLabelType,
    /// A compression pointer that does not point backwards, or one where none may be.
    BadPointer,
    /// A name longer than 255 octets.
    NameTooLong,
    /// Bytes after the last record the header counts.
    TrailingBytes,
    /// EDNS options that overrun the OPT record's data.
    BadOptLength,
    /// More than one OPT record.
    DuplicateOpt,
    /// A malformed EDNS Client Subnet option (RFC 7871 §7.1.1).
    BadEcs,
    /// A TSIG record that is not the last one, or whose data does not parse (RFC 8945).
    BadTsig,
    /// Not exactly one question.
    QuestionCount,
    /// A question whose name cannot be read.
    QuestionName,
    /// A question for a type that cannot be asked for (NXNAME, RFC 9824 §3.4).
    BadQuestionType,
    /// Rejected by the full decoder for another reason (the data of a record, say).
    Undecodable,
}

impl WireError {
    /// Every reason, in the order of [`WireError::index`].
    pub const ALL: [WireError; 13] = [
        WireError::Truncated,
        WireError::BadLabelType,
        WireError::BadPointer,
        WireError::NameTooLong,
        WireError::TrailingBytes,
        WireError::BadOptLength,
        WireError::DuplicateOpt,
        WireError::BadEcs,
        WireError::BadTsig,
        WireError::QuestionCount,
        WireError::QuestionName,
        WireError::BadQuestionType,
        WireError::Undecodable,
    ];

    /// The reason as a metrics label and log field.
    pub fn reason(self) -> &'static str {
        match self {
            WireError::Truncated => "truncated",
            WireError::BadLabelType => "bad_label_type",
            WireError::BadPointer => "bad_pointer",
            WireError::NameTooLong => "name_too_long",
            WireError::TrailingBytes => "trailing_bytes",
            WireError::BadOptLength => "bad_opt_length",
            WireError::DuplicateOpt => "duplicate_opt",
            WireError::BadEcs => "bad_ecs",
            WireError::BadTsig => "bad_tsig",
            WireError::QuestionCount => "question_count",
            WireError::QuestionName => "question_name",
            WireError::BadQuestionType => "bad_question_type",
            WireError::Undecodable => "undecodable",
        }
    }

    /// Its position in [`WireError::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for WireError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_each_reason_at_its_index() {
        for (i, e) in WireError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
        let mut reasons: Vec<_> = WireError::ALL.iter().map(|e| e.reason()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), WireError::ALL.len());
    }
}
