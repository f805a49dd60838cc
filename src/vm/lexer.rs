//! The lexer: source text to tokens.
//!
//! Each token carries its line and column (1-based, in characters) and
//! whether a newline came before it: statements end at newlines, so the
//! parser needs to know. Bad input — stray characters, unterminated strings,
//! invalid escapes, numbers out of range — becomes a [`SyntaxError`].

use super::error::SyntaxError;

/// What kind of token.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name.
    Ident(String),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal, escapes decoded.
    Str(String),
    /// A keyword or punctuation, as written.
    Sym(&'static str),
    /// End of input.
    Eof,
}

/// A token with its position.
#[derive(Clone, Debug)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
    /// Whether a line break separates it from the previous token.
    pub newline_before: bool,
}

const KEYWORDS: &[&str] = &[
    "and", "break", "continue", "else", "false", "fn", "for", "if", "in", "let", "nil", "not",
    "or", "return", "true", "while", "yield",
];

/// Longest first, so `==` wins over `=`.
const SYMBOLS: &[&str] = &[
    "==", "!=", "<=", ">=", "+=", "-=", "*=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "+",
    "-", "*", "/", "%", "<", ">", "=",
];

/// Split `source` into tokens, ending with [`Tok::Eof`].
pub fn lex(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let mut newline_before = true;
    macro_rules! bump {
        () => {{
            if chars[i] == '\n' {
                line += 1;
                col = 1;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            newline_before = true;
            bump!();
            continue;
        }
        if c.is_whitespace() {
            bump!();
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                bump!();
            }
            continue;
        }
        let (start_line, start_col) = (line, col);
        let err = |msg: String, l, c| SyntaxError { line: l, col: c, message: msg };
        let tok = if c.is_ascii_digit() {
            let start = i;
            let mut is_float = false;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '_') {
                bump!();
            }
            if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                is_float = true;
                bump!();
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '_') {
                    bump!();
                }
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let save = (i, line, col);
                bump!();
                if i < chars.len() && (chars[i] == '+' || chars[i] == '-') {
                    bump!();
                }
                if i < chars.len() && chars[i].is_ascii_digit() {
                    is_float = true;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        bump!();
                    }
                } else {
                    (i, line, col) = save;
                }
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            if i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                return Err(err(
                    format!("invalid number literal '{text}{}'", chars[i]),
                    start_line,
                    start_col,
                ));
            }
            if is_float {
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Float(v),
                    _ => {
                        return Err(err(
                            format!("float literal {text} is out of range"),
                            start_line,
                            start_col,
                        ));
                    }
                }
            } else {
                match text.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        return Err(err(
                            format!("integer literal {text} does not fit in 64 bits"),
                            start_line,
                            start_col,
                        ));
                    }
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                bump!();
            }
            let word: String = chars[start..i].iter().collect();
            match KEYWORDS.iter().find(|k| **k == word) {
                Some(k) => Tok::Sym(k),
                None => Tok::Ident(word),
            }
        } else if c == '"' {
            bump!();
            let mut text = String::new();
            loop {
                if i >= chars.len() || chars[i] == '\n' {
                    return Err(err("unterminated string".into(), start_line, start_col));
                }
                let ch = chars[i];
                if ch == '"' {
                    bump!();
                    break;
                }
                if ch == '\\' {
                    let (esc_line, esc_col) = (line, col);
                    bump!();
                    let decoded = match chars.get(i) {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some(other) => {
                            return Err(err(
                                format!("invalid escape '\\{other}'"),
                                esc_line,
                                esc_col,
                            ));
                        }
                        None => {
                            return Err(err("unterminated string".into(), start_line, start_col));
                        }
                    };
                    text.push(decoded);
                    bump!();
                    continue;
                }
                text.push(ch);
                bump!();
            }
            Tok::Str(text)
        } else if let Some(sym) = SYMBOLS
            .iter()
            .find(|s| s.chars().enumerate().all(|(k, sc)| chars.get(i + k) == Some(&sc)))
        {
            for _ in 0..sym.chars().count() {
                bump!();
            }
            Tok::Sym(sym)
        } else {
            let shown =
                if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("'{c}'") };
            return Err(err(format!("unexpected character {shown}"), start_line, start_col));
        };
        tokens.push(Token { tok, line: start_line, col: start_col, newline_before });
        newline_before = false;
    }
    tokens.push(Token { tok: Tok::Eof, line, col, newline_before: true });
    Ok(tokens)
}
