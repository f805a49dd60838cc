//! Text that fits the terminal: lines made of styled pieces, measured in
//! screen columns, shortened to a width, and wrapped at spaces.
//!
//! This module owns no state; the screen builds [`Line`]s and asks here how
//! to print them in the columns it has. Widths are counted in display
//! columns of the visible text (escape codes count zero).

use unicode_width::UnicodeWidthChar;

/// Green text (SGR code): the spinner keeps up; running with the lock.
pub const GREEN: &str = "32";
/// Red text: the spinner froze; waiting for the lock.
pub const RED: &str = "31";
/// Yellow text: the spinner lagged; C running with the lock held.
pub const YELLOW: &str = "33";
/// Cyan text: the lock line.
pub const CYAN: &str = "36";
/// Dim text: hints and asides.
pub const DIM: &str = "2";

/// A piece of a line: text and the SGR code that colours it (empty: none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The visible text.
    pub text: String,
    /// The SGR parameters, e.g. `"1;32"`; empty for plain text.
    pub style: &'static str,
}

/// One line of output: pieces side by side.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Line {
    /// The pieces, left to right.
    pub pieces: Vec<Piece>,
}

impl Line {
    /// A line of one plain piece.
    pub fn plain(text: impl Into<String>) -> Line {
        Line::default().text(text)
    }

    /// Add a plain piece.
    pub fn text(self, text: impl Into<String>) -> Line {
        self.styled("", text)
    }

    /// Add a coloured piece.
    pub fn styled(mut self, style: &'static str, text: impl Into<String>) -> Line {
        self.pieces.push(Piece { text: text.into(), style });
        self
    }

    /// Its width in screen columns.
    pub fn width(&self) -> usize {
        self.pieces.iter().map(|p| text_width(&p.text)).sum()
    }

    /// The visible text, without styles.
    pub fn plain_text(&self) -> String {
        self.pieces.iter().map(|p| p.text.as_str()).collect()
    }

    /// Cut it to at most `width` columns, ending in `…` if anything was cut.
    pub fn truncated(&self, width: usize) -> Line {
        if self.width() <= width {
            return self.clone();
        }
        let mut left = width.saturating_sub(1);
        let mut out = Line::default();
        for piece in &self.pieces {
            let mut text = String::new();
            for ch in piece.text.chars() {
                let w = ch.width().unwrap_or(0);
                if w > left {
                    left = 0;
                    break;
                }
                left -= w;
                text.push(ch);
            }
            let full = text.len() == piece.text.len();
            out.pieces.push(Piece { text, style: piece.style });
            if !full {
                break;
            }
        }
        if width > 0 {
            out.pieces.push(Piece { text: "…".to_owned(), style: "" });
        }
        out
    }

    /// The line as bytes for the terminal: with SGR codes if `color`.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            if color && !piece.style.is_empty() && !piece.text.is_empty() {
                out.push_str(&format!("\x1b[{}m{}\x1b[0m", piece.style, piece.text));
            } else {
                out.push_str(&piece.text);
            }
        }
        out
    }
}

/// The display width of `text` in columns.
pub fn text_width(text: &str) -> usize {
    text.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// The first of `choices` (longest first) that fits in `width` columns, or
/// else the last one cut to fit.
pub fn fit(choices: Vec<Line>, width: usize) -> Line {
    let last = choices.len().saturating_sub(1);
    for (i, line) in choices.into_iter().enumerate() {
        if line.width() <= width {
            return line;
        }
        if i == last {
            return line.truncated(width);
        }
    }
    Line::default()
}

/// Break `text` at spaces into lines of at most `width` columns, the first
/// starting with `first` and the others with `rest` (both counted). A word
/// longer than a line is cut.
pub fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        let needed = text_width(&line) + usize::from(!empty) + text_width(word);
        if !empty && needed > width {
            lines.push(std::mem::replace(&mut line, rest.to_owned()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
        if text_width(&line) > width {
            let cut = Line::plain(line.as_str()).truncated(width).plain_text();
            line = cut;
        }
    }
    lines.push(line);
    // A prefix alone may be wider than a very narrow terminal.
    lines.into_iter().map(|l| Line::plain(l).truncated(width).plain_text()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_columns_not_bytes_and_marks_the_cut() {
        let line = Line::plain("  █ spinning ").styled("32", "░░░░");
        assert_eq!(line.width(), 17);
        let cut = line.truncated(10);
        assert_eq!(cut.width(), 10);
        assert!(cut.plain_text().ends_with('…'));
        assert_eq!(line.truncated(17), line);
    }

    #[test]
    fn fit_takes_the_longest_choice_that_fits() {
        let long = Line::plain("a long line of text");
        let short = Line::plain("short");
        assert_eq!(fit(vec![long.clone(), short.clone()], 30), long);
        assert_eq!(fit(vec![long.clone(), short.clone()], 8), short);
        assert_eq!(fit(vec![long, short], 3).width(), 3);
    }

    #[test]
    fn render_colours_only_when_asked() {
        let line = Line::plain("a ").styled("31", "b");
        assert_eq!(line.render(false), "a b");
        assert_eq!(line.render(true), "a \x1b[31mb\x1b[0m");
    }

    #[test]
    fn wrapping_keeps_every_line_within_the_width() {
        let text = "C kept the lock: every other thread, the spinner too, froze until C returned.";
        for width in [3, 10, 20, 40, 80] {
            let lines = wrap(text, width, "  ", "    ");
            assert!(lines.iter().all(|l| text_width(l) <= width), "{width}: {lines:?}");
            let words: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
            if width >= 20 {
                assert_eq!(words.join(" "), text);
            }
        }
    }
}
