//! The parser: tokens to a [`Script`], resolving names as it goes.
//!
//! A recursive-descent parser with one token of look-ahead. Statements end
//! at a line break; inside `(` and `[` line breaks are ignored, so long
//! expressions can be wrapped. A call or index must start on the line of
//! the value it applies to (`f\n(x)` is two statements).
//!
//! Name resolution happens here because locals are always declared before
//! use: a use finds its declaration in the current function (a local), in an
//! enclosing function (a capture: the declaration is marked captured, so the
//! compiler boxes it), or nowhere (a global, checked by the compiler once all
//! top-level names are known). Nesting deeper than [`MAX_DEPTH`] is a syntax
//! error, so no input can overflow the Rust stack.
//!
//! This file owns the token cursor, the nesting limit and the scopes names
//! resolve in; `statements.rs` and `expressions.rs` read tokens only through
//! its helpers. The parser touches no runtime state and needs no lock.

mod expressions;
mod statements;

use super::ast::*;
use super::error::SyntaxError;
use super::lexer::{Tok, Token, lex};

/// How deeply blocks and expressions may nest.
pub const MAX_DEPTH: u32 = 200;
/// How many binary operators one expression may chain (`a + b + c …`):
/// each one nests the tree a level deeper on the left.
pub const MAX_CHAIN: u32 = 10_000;

struct FnScope {
    blocks: Vec<Vec<(String, DeclId)>>,
    is_generator: bool,
    loops: u32,
    is_main: bool,
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
    fns: Vec<FnScope>,
    captured: Vec<bool>,
    globals: Vec<String>,
    /// The same names, to find one in constant time: a linear search made
    /// compiling N top-level declarations take O(N²) time.
    global_set: std::collections::HashSet<String>,
    depth: u32,
    chain: u32,
    brackets: u32,
}

type PResult<T> = Result<T, SyntaxError>;

/// Parse a whole script.
pub fn parse(source: &str) -> PResult<Script> {
    let toks = lex(source)?;
    let mut p = Parser {
        toks,
        at: 0,
        fns: vec![FnScope {
            blocks: vec![Vec::new()],
            is_generator: false,
            loops: 0,
            is_main: true,
        }],
        captured: Vec::new(),
        globals: Vec::new(),
        global_set: std::collections::HashSet::new(),
        depth: 0,
        chain: 0,
        brackets: 0,
    };
    let mut body = Vec::new();
    while p.peek().tok != Tok::Eof {
        body.push(p.statement()?);
        p.end_of_statement()?;
    }
    Ok(Script { body, captured: p.captured, globals: p.globals })
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.at]
    }

    fn pos(&self) -> Pos {
        let t = self.peek();
        Pos { line: t.line, col: t.col }
    }

    fn advance(&mut self) -> Token {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn is(&self, sym: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if *s == sym)
    }

    /// Whether the next token continues the current expression on this line
    /// (or anywhere, inside brackets).
    fn same_line(&self) -> bool {
        self.brackets > 0 || !self.peek().newline_before
    }

    fn eat(&mut self, sym: &str) -> bool {
        if self.is(sym) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn error_here<T>(&self, message: impl Into<String>) -> PResult<T> {
        let t = self.peek();
        Err(SyntaxError { line: t.line, col: t.col, message: message.into() })
    }

    fn describe(tok: &Tok) -> String {
        match tok {
            Tok::Ident(name) => format!("name '{name}'"),
            Tok::Int(v) => format!("number {v}"),
            Tok::Float(v) => format!("number {v}"),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::Eof => "end of file".to_owned(),
        }
    }

    fn expect(&mut self, sym: &str, context: &str) -> PResult<Token> {
        if self.is(sym) {
            Ok(self.advance())
        } else {
            let found = Self::describe(&self.peek().tok);
            self.error_here(format!("expected '{sym}' {context}, found {found}"))
        }
    }

    fn ident(&mut self, context: &str) -> PResult<String> {
        match &self.peek().tok {
            Tok::Ident(name) => {
                let name = name.clone();
                self.advance();
                Ok(name)
            }
            other => {
                let found = Self::describe(other);
                self.error_here(format!("expected a name {context}, found {found}"))
            }
        }
    }

    /// A statement ends at a line break, a `;`, the end of the block or
    /// of the file.
    fn end_of_statement(&mut self) -> PResult<()> {
        if self.eat(";") {
            return Ok(());
        }
        let t = self.peek();
        if t.newline_before || t.tok == Tok::Eof || self.is("}") {
            Ok(())
        } else {
            let found = Self::describe(&t.tok);
            self.error_here(format!(
                "expected a line break or ';' after the statement, found {found}"
            ))
        }
    }

    fn nest(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.error_here(format!("nesting is too deep (more than {MAX_DEPTH} levels)"));
        }
        Ok(())
    }

    fn unnest(&mut self) {
        self.depth -= 1;
    }

    /// Count one more operator in the current chain.
    fn chain_link(&mut self) -> PResult<()> {
        self.chain += 1;
        if self.chain > MAX_CHAIN {
            return self
                .error_here(format!("expression is too long (more than {MAX_CHAIN} operators)"));
        }
        Ok(())
    }

    // ----- scopes -----

    fn current(&mut self) -> &mut FnScope {
        self.fns.last_mut().expect("a function scope")
    }

    /// Top-level declarations of the main function are globals.
    fn at_top_level(&self) -> bool {
        self.fns.len() == 1 && self.fns[0].blocks.len() == 1
    }

    fn declare(&mut self, name: &str) -> DeclId {
        let id = self.captured.len() as DeclId;
        self.captured.push(false);
        if self.at_top_level() {
            if self.global_set.insert(name.to_owned()) {
                self.globals.push(name.to_owned());
            }
        } else {
            self.current().blocks.last_mut().expect("a block").push((name.to_owned(), id));
        }
        id
    }

    fn resolve(&mut self, name: &str) -> Res {
        let innermost = self.fns.len() - 1;
        for (depth, scope) in self.fns.iter().enumerate().rev() {
            for block in scope.blocks.iter().rev() {
                if let Some((_, id)) = block.iter().rev().find(|(n, _)| n == name) {
                    let id = *id;
                    if depth == innermost {
                        return Res::Local(id);
                    }
                    self.captured[id as usize] = true;
                    return Res::Capture(id);
                }
            }
        }
        Res::Global(name.to_owned())
    }
}
