//! The lexer: source text to tokens.
//!
//! Each token carries its line and column (1-based, in characters) and
//! whether a newline came before it: statements end at newlines, so the
//! parser needs to know. Bad input — stray characters, unterminated strings,
//! invalid escapes, numbers out of range — becomes a [`SyntaxError`].
//! Owns: the token vocabulary and positions. Touches no runtime state.

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
    "and", "break", "catch", "continue", "else", "false", "finally", "fn", "for", "if", "in",
    "let", "nil", "not", "or", "return", "true", "try", "while", "with", "yield",
];

/// Longest first, so `==` wins over `=`.
const SYMBOLS: &[&str] = &[
    "**", "==", "!=", "<=", ">=", "+=", "-=", "*=", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    ";", "+", "-", "*", "/", "%", "<", ">", "=",
];

/// Split `source` into tokens, ending with [`Tok::Eof`].
pub fn lex(source: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut lexer = Lexer { chars: source.chars().collect(), i: 0, line: 1, col: 1 };
    let mut tokens = Vec::new();
    let mut newline_before = true;
    while let Some(c) = lexer.peek() {
        if c == '\n' {
            newline_before = true;
            lexer.bump();
            continue;
        }
        if c.is_whitespace() {
            lexer.bump();
            continue;
        }
        if c == '/' && lexer.peek_at(1) == Some('/') {
            lexer.skip_while(|c| c != '\n');
            continue;
        }
        let (line, col) = (lexer.line, lexer.col);
        let tok = if c.is_ascii_digit() {
            lexer.number()?
        } else if c.is_alphabetic() || c == '_' {
            let word = lexer.take_while(|c| c.is_alphanumeric() || c == '_');
            match KEYWORDS.iter().find(|k| **k == word) {
                Some(k) => Tok::Sym(k),
                None => Tok::Ident(word),
            }
        } else if c == '"' {
            lexer.string()?
        } else if let Some(sym) = SYMBOLS
            .iter()
            .find(|s| s.chars().enumerate().all(|(k, sc)| lexer.peek_at(k) == Some(sc)))
        {
            for _ in 0..sym.chars().count() {
                lexer.bump();
            }
            Tok::Sym(sym)
        } else {
            let shown =
                if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("'{c}'") };
            return Err(lexer.error_at(format!("unexpected character {shown}"), line, col));
        };
        tokens.push(Token { tok, line, col, newline_before });
        newline_before = false;
    }
    tokens.push(Token { tok: Tok::Eof, line: lexer.line, col: lexer.col, newline_before: true });
    Ok(tokens)
}

/// The source as characters and where the lexer is in it.
struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    col: u32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    /// Step over one character, counting lines and columns.
    fn bump(&mut self) {
        if self.chars[self.i] == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        self.i += 1;
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.i;
        self.skip_while(keep);
        self.chars[start..self.i].iter().collect()
    }

    fn error_at(&self, message: String, line: u32, col: u32) -> SyntaxError {
        SyntaxError { line, col, message }
    }

    /// A number literal: digits with `_` separators, an optional fraction
    /// and an optional exponent (which makes it a float).
    fn number(&mut self) -> Result<Tok, SyntaxError> {
        let (start, line, col) = (self.i, self.line, self.col);
        let digits = |c: char| c.is_ascii_digit() || c == '_';
        let mut is_float = false;
        self.skip_while(digits);
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.bump();
            self.skip_while(digits);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = (self.i, self.line, self.col);
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                is_float = true;
                self.skip_while(|c| c.is_ascii_digit());
            } else {
                (self.i, self.line, self.col) = save;
            }
        }
        let text: String = self.chars[start..self.i].iter().filter(|c| **c != '_').collect();
        if let Some(next) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            return Err(self.error_at(format!("invalid number literal '{text}{next}'"), line, col));
        }
        if is_float {
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Tok::Float(v)),
                _ => Err(self.error_at(format!("float literal {text} is out of range"), line, col)),
            }
        } else {
            text.parse::<i64>().map(Tok::Int).map_err(|_| {
                self.error_at(format!("integer literal {text} does not fit in 64 bits"), line, col)
            })
        }
    }

    /// A string literal, on one line, with the escapes `\n \t \r \0 \\ \"`.
    fn string(&mut self) -> Result<Tok, SyntaxError> {
        let (line, col) = (self.line, self.col);
        self.bump();
        let mut text = String::new();
        loop {
            let ch = match self.peek() {
                None | Some('\n') => {
                    return Err(self.error_at("unterminated string".into(), line, col));
                }
                Some(ch) => ch,
            };
            self.bump();
            match ch {
                '"' => return Ok(Tok::Str(text)),
                '\\' => {
                    let (esc_line, esc_col) = (self.line, self.col - 1);
                    let decoded = match self.peek() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some('\\') => '\\',
                        Some('"') => '"',
                        Some(other) => {
                            let message = format!("invalid escape '\\{other}'");
                            return Err(self.error_at(message, esc_line, esc_col));
                        }
                        None => return Err(self.error_at("unterminated string".into(), line, col)),
                    };
                    text.push(decoded);
                    self.bump();
                }
                other => text.push(other),
            }
        }
    }
}
