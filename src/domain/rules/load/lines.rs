//! Byte offsets to `line:col`, in time independent of where in the file they fall.
//!
//! Every located item (each segment, rule and reference) asks for its place, so counting newlines
//! from the top of the file for each one made loading quadratic in the file's size. The index is
//! built in one pass over the text; a lookup is a binary search plus a count of the characters
//! between the nearest anchor and the offset, which is at most [`STRIDE`] bytes, so a file written
//! on one very long line costs no more than one with short lines.

use std::ops::Range;

use super::diagnostic::Span;

/// Bytes between the anchors placed inside long lines.
const STRIDE: usize = 256;

/// Where each line of one text starts, and anchors inside long lines.
#[derive(Debug)]
pub(super) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of each line's first byte; the first is 0.
    starts: Vec<usize>,
    /// `(byte offset, 0-based column in characters)` every [`STRIDE`] bytes inside lines longer
    /// than that, ascending, each on a character boundary.
    anchors: Vec<(usize, usize)>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`, lines ending at `\n` (a `\r` before it stays on its line, as before).
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        let mut anchors = Vec::new();
        let mut line_start = 0;
        loop {
            let end = text[line_start..].find('\n').map_or(text.len(), |i| line_start + i);
            if end - line_start > STRIDE {
                let mut next = STRIDE;
                for (col, (i, _)) in text[line_start..end].char_indices().enumerate() {
                    if i >= next {
                        anchors.push((line_start + i, col));
                        next = i + STRIDE;
                    }
                }
            }
            if end == text.len() {
                break;
            }
            line_start = end + 1;
            starts.push(line_start);
        }
        LineIndex { text, starts, anchors }
    }

    /// The span of `bytes`: the line and column of its start (an offset inside a character counts
    /// as that character; one past the end as the end).
    pub fn span(&self, bytes: Range<usize>) -> Span {
        let text = self.text;
        let start = bytes.start.min(text.len());
        let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        // `starts[0]` is 0, so at least one start is at or before any offset.
        let line = self.starts.partition_point(|&s| s <= start).max(1);
        let line_start = self.starts[line - 1];
        let (from, col) = match self.anchors.partition_point(|&(b, _)| b <= start) {
            0 => (line_start, 0),
            n => match self.anchors[n - 1] {
                (b, c) if b >= line_start => (b, c),
                _ => (line_start, 0),
            },
        };
        Span {
            line,
            col: col + text[from..start].chars().count() + 1,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Counting from the top, as the loader did: the reference the index must equal.
    fn counted(text: &str, bytes: Range<usize>) -> Span {
        let start = bytes.start.min(text.len());
        let start = (0..=start).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        Span {
            line: text[..start].matches('\n').count() + 1,
            col: text[line_start..start].chars().count() + 1,
            bytes,
        }
    }

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        let text = "a = 1\r\nb = \"é€\"\n\nc = [\n  1,\n]\n";
        let index = LineIndex::new(text);
        let at = |needle: &str| {
            let i = text.find(needle).expect("needle");
            let s = index.span(i..i + needle.len());
            (s.line, s.col)
        };
        assert_eq!(at("a"), (1, 1));
        assert_eq!(at("\r"), (1, 6), "a CR stays on its line");
        assert_eq!(at("b"), (2, 1));
        assert_eq!(at("\"\n"), (2, 8), "columns count characters, not bytes");
        assert_eq!(at("c"), (4, 1));
        assert_eq!(at("1,"), (5, 3));
        assert_eq!(index.span(text.len()..text.len()).line, 7, "one past the end");
        assert_eq!(index.span(text.len() + 9..text.len() + 9).line, 7, "clamped");
    }

    #[test]
    fn a_long_line_is_located_through_its_anchors() {
        let text = format!("x\n{}é{}\ny", "ab".repeat(400), "€".repeat(300));
        let index = LineIndex::new(&text);
        assert!(!index.anchors.is_empty());
        for i in (0..=text.len()).step_by(7) {
            assert_eq!(index.span(i..i), counted(&text, i..i), "offset {i}");
        }
    }

    proptest! {
        #[test]
        fn the_index_agrees_with_counting_from_the_top(
            text in "([a-z =\"é€\r]{0,300}\n?){0,8}",
            offsets in proptest::collection::vec(0usize..3_000, 1..16),
        ) {
            let index = LineIndex::new(&text);
            for o in offsets {
                prop_assert_eq!(index.span(o..o + 1), counted(&text, o..o + 1));
            }
        }
    }
}
