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

    fn end_of_statement(&mut self) -> PResult<()> {
        let t = self.peek();
        if t.newline_before || t.tok == Tok::Eof || self.is("}") {
            Ok(())
        } else {
            let found = Self::describe(&t.tok);
            self.error_here(format!("expected a line break after the statement, found {found}"))
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
            if !self.globals.iter().any(|g| g == name) {
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

    fn block(&mut self) -> PResult<Vec<Stmt>> {
        self.expect("{", "to open a block")?;
        self.nest()?;
        let saved_brackets = std::mem::replace(&mut self.brackets, 0);
        self.current().blocks.push(Vec::new());
        let mut body = Vec::new();
        while !self.is("}") {
            if self.peek().tok == Tok::Eof {
                return self.error_here("expected '}' to close the block, found end of file");
            }
            body.push(self.statement()?);
            self.end_of_statement()?;
        }
        self.advance();
        self.current().blocks.pop();
        self.brackets = saved_brackets;
        self.unnest();
        Ok(body)
    }

    // ----- statements -----

    fn statement(&mut self) -> PResult<Stmt> {
        self.chain = 0;
        let pos = self.pos();
        if self.eat("let") {
            let name = self.ident("after 'let'")?;
            self.expect("=", &format!("after 'let {name}'"))?;
            let value = self.expression()?;
            let global = self.at_top_level();
            let decl = self.declare(&name);
            return Ok(Stmt::Let { decl, name, value, global, pos });
        }
        if self.is("fn")
            && matches!(self.toks.get(self.at + 1).map(|t| &t.tok), Some(Tok::Ident(_)))
        {
            self.advance();
            let name = self.ident("after 'fn'")?;
            let global = self.at_top_level();
            let decl = self.declare(&name);
            let def = self.function_rest(name, pos)?;
            return Ok(Stmt::Fn { decl, def: Box::new(def), global });
        }
        if self.eat("if") {
            return self.if_rest();
        }
        if self.eat("while") {
            let cond = self.expression()?;
            self.current().loops += 1;
            let body = self.block()?;
            self.current().loops -= 1;
            return Ok(Stmt::While { cond, body });
        }
        if self.eat("for") {
            let name = self.ident("after 'for'")?;
            self.expect("in", &format!("after 'for {name}'"))?;
            let iterable = self.expression()?;
            let iter = match iterable {
                Expr::Call(callee, mut args, _)
                    if matches!(&*callee, Expr::Name(Res::Global(n), _, _) if n == "range")
                        && (1..=2).contains(&args.len()) =>
                {
                    let end = args.pop().expect("one argument");
                    let start = args.pop().unwrap_or(Expr::Int(0));
                    ForIter::Range(start, end)
                }
                other => ForIter::Value(other),
            };
            // The loop variable lives in a block of its own around the body.
            self.current().blocks.push(Vec::new());
            let var = self.declare(&name);
            self.current().loops += 1;
            let body = self.block()?;
            self.current().loops -= 1;
            self.current().blocks.pop();
            return Ok(Stmt::For { var, iter, body, pos });
        }
        if self.eat("break") {
            if self.current().loops == 0 {
                return Err(SyntaxError {
                    line: pos.line,
                    col: pos.col,
                    message: "'break' outside a loop".into(),
                });
            }
            return Ok(Stmt::Break(pos));
        }
        if self.eat("continue") {
            if self.current().loops == 0 {
                return Err(SyntaxError {
                    line: pos.line,
                    col: pos.col,
                    message: "'continue' outside a loop".into(),
                });
            }
            return Ok(Stmt::Continue(pos));
        }
        if self.eat("return") {
            if self.current().is_main {
                return Err(SyntaxError {
                    line: pos.line,
                    col: pos.col,
                    message: "'return' outside a function".into(),
                });
            }
            let value = if self.peek().newline_before || self.is("}") || self.peek().tok == Tok::Eof
            {
                None
            } else {
                Some(self.expression()?)
            };
            return Ok(Stmt::Return(value, pos));
        }
        let expr = self.expression()?;
        let op = match &self.peek().tok {
            Tok::Sym("=") => Some(None),
            Tok::Sym("+=") => Some(Some(BinOp::Add)),
            Tok::Sym("-=") => Some(Some(BinOp::Sub)),
            Tok::Sym("*=") => Some(Some(BinOp::Mul)),
            _ => None,
        };
        let Some(op) = op else {
            return Ok(Stmt::Expr(expr, pos));
        };
        let assign_pos = self.pos();
        self.advance();
        let target = match expr {
            Expr::Name(res, name, npos) => Target::Name(res, name, npos),
            Expr::Index(obj, key, ipos) => Target::Index(*obj, *key, ipos),
            _ => {
                return Err(SyntaxError {
                    line: assign_pos.line,
                    col: assign_pos.col,
                    message: "cannot assign to this expression".into(),
                });
            }
        };
        let value = self.expression()?;
        Ok(Stmt::Assign { target, op, value, pos: assign_pos })
    }

    fn if_rest(&mut self) -> PResult<Stmt> {
        let cond = self.expression()?;
        let then = self.block()?;
        let otherwise = if self.eat("else") {
            if self.eat("if") {
                self.nest()?;
                let nested = self.if_rest()?;
                self.unnest();
                vec![nested]
            } else {
                self.block()?
            }
        } else {
            Vec::new()
        };
        Ok(Stmt::If { cond, then, otherwise })
    }

    /// Parameters and body, after `fn NAME` or `fn`.
    fn function_rest(&mut self, name: String, pos: Pos) -> PResult<FnDef> {
        self.nest()?;
        self.expect("(", "to open the parameter list")?;
        self.fns.push(FnScope {
            blocks: vec![Vec::new()],
            is_generator: false,
            loops: 0,
            is_main: false,
        });
        let mut params = Vec::new();
        let mut names: Vec<String> = Vec::new();
        while !self.is(")") {
            let param_pos = self.pos();
            let param = self.ident("for a parameter")?;
            if names.contains(&param) {
                return Err(SyntaxError {
                    line: param_pos.line,
                    col: param_pos.col,
                    message: format!("duplicate parameter '{param}'"),
                });
            }
            if params.len() >= 255 {
                return self.error_here("too many parameters (at most 255)");
            }
            names.push(param.clone());
            params.push(self.declare(&param));
            if !self.eat(",") {
                break;
            }
        }
        self.expect(")", "to close the parameter list")?;
        let body = self.block()?;
        let scope = self.fns.pop().expect("the function's scope");
        self.unnest();
        Ok(FnDef { name, params, body, is_generator: scope.is_generator, pos })
    }

    // ----- expressions -----

    fn expression(&mut self) -> PResult<Expr> {
        self.nest()?;
        let result = self.or();
        self.unnest();
        result
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut left = self.and()?;
        while self.same_line() && self.eat("or") {
            self.chain_link()?;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut left = self.not()?;
        while self.same_line() && self.eat("and") {
            self.chain_link()?;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> PResult<Expr> {
        let pos = self.pos();
        if self.eat("not") {
            self.nest()?;
            let operand = self.not()?;
            self.unnest();
            return Ok(Expr::Unary(UnOp::Not, Box::new(operand), pos));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> PResult<Expr> {
        let left = self.additive()?;
        let op = match &self.peek().tok {
            Tok::Sym("==") => BinOp::Eq,
            Tok::Sym("!=") => BinOp::Ne,
            Tok::Sym("<") => BinOp::Lt,
            Tok::Sym("<=") => BinOp::Le,
            Tok::Sym(">") => BinOp::Gt,
            Tok::Sym(">=") => BinOp::Ge,
            _ => return Ok(left),
        };
        if !self.same_line() {
            return Ok(left);
        }
        let pos = self.pos();
        self.advance();
        let right = self.additive()?;
        if matches!(&self.peek().tok, Tok::Sym("==" | "!=" | "<" | "<=" | ">" | ">="))
            && self.same_line()
        {
            return self.error_here("comparisons cannot be chained; use 'and'");
        }
        Ok(Expr::Binary(op, Box::new(left), Box::new(right), pos))
    }

    fn additive(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::multiplicative, |tok| match tok {
            Tok::Sym("+") => Some(BinOp::Add),
            Tok::Sym("-") => Some(BinOp::Sub),
            _ => None,
        })
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::unary, |tok| match tok {
            Tok::Sym("*") => Some(BinOp::Mul),
            Tok::Sym("/") => Some(BinOp::Div),
            Tok::Sym("%") => Some(BinOp::Mod),
            _ => None,
        })
    }

    /// One level of left-associative binary operators: operands parsed by
    /// `operand`, joined by the operators `op_of` recognises, on one line.
    fn left_assoc(
        &mut self,
        operand: fn(&mut Self) -> PResult<Expr>,
        op_of: fn(&Tok) -> Option<BinOp>,
    ) -> PResult<Expr> {
        let mut left = operand(self)?;
        while let Some(op) = op_of(&self.peek().tok) {
            if !self.same_line() {
                break;
            }
            let pos = self.pos();
            self.advance();
            self.chain_link()?;
            let right = operand(self)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
        Ok(left)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let pos = self.pos();
        if self.eat("-") {
            self.nest()?;
            let operand = self.unary()?;
            self.unnest();
            return Ok(match operand {
                Expr::Int(v) if v != i64::MIN => Expr::Int(-v),
                Expr::Float(v) => Expr::Float(-v),
                other => Expr::Unary(UnOp::Neg, Box::new(other), pos),
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut expr = self.primary()?;
        let mut chain = 0u32;
        loop {
            if !self.same_line() {
                return Ok(expr);
            }
            let pos = self.pos();
            if self.eat("(") {
                self.brackets += 1;
                let mut args = Vec::new();
                while !self.is(")") {
                    if args.len() >= 255 {
                        return self.error_here("too many arguments (at most 255)");
                    }
                    args.push(self.expression()?);
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect(")", "to close the argument list")?;
                self.brackets -= 1;
                expr = Expr::Call(Box::new(expr), args, pos);
            } else if self.eat("[") {
                self.brackets += 1;
                let index = self.expression()?;
                self.expect("]", "to close the index")?;
                self.brackets -= 1;
                expr = Expr::Index(Box::new(expr), Box::new(index), pos);
            } else if self.eat(".") {
                let name = self.ident("after '.'")?;
                expr = Expr::Index(Box::new(expr), Box::new(Expr::Str(name)), pos);
            } else {
                return Ok(expr);
            }
            chain += 1;
            if chain > MAX_DEPTH {
                return self
                    .error_here(format!("nesting is too deep (more than {MAX_DEPTH} levels)"));
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let pos = self.pos();
        let token = self.advance();
        match token.tok {
            Tok::Int(v) => Ok(Expr::Int(v)),
            Tok::Float(v) => Ok(Expr::Float(v)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(name) => Ok(Expr::Name(self.resolve(&name), name, pos)),
            Tok::Sym("nil") => Ok(Expr::Nil),
            Tok::Sym("true") => Ok(Expr::Bool(true)),
            Tok::Sym("false") => Ok(Expr::Bool(false)),
            Tok::Sym("(") => {
                self.brackets += 1;
                let inner = self.expression()?;
                self.expect(")", "to close the parenthesis")?;
                self.brackets -= 1;
                Ok(inner)
            }
            Tok::Sym("[") => {
                self.brackets += 1;
                let mut items = Vec::new();
                while !self.is("]") {
                    items.push(self.expression()?);
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect("]", "to close the list")?;
                self.brackets -= 1;
                Ok(Expr::List(items))
            }
            Tok::Sym("{") => {
                self.brackets += 1;
                let mut entries = Vec::new();
                while !self.is("}") {
                    let key = self.expression()?;
                    self.expect(":", "between a map key and its value")?;
                    let value = self.expression()?;
                    entries.push((key, value));
                    if !self.eat(",") {
                        break;
                    }
                }
                self.expect("}", "to close the map")?;
                self.brackets -= 1;
                Ok(Expr::Map(entries))
            }
            Tok::Sym("fn") => {
                let def = self.function_rest("<fn>".to_owned(), pos)?;
                Ok(Expr::Func(Box::new(def)))
            }
            Tok::Sym("yield") => {
                if self.current().is_main {
                    return Err(SyntaxError {
                        line: pos.line,
                        col: pos.col,
                        message: "'yield' outside a function".into(),
                    });
                }
                self.current().is_generator = true;
                let ends = !self.same_line()
                    || matches!(&self.peek().tok, Tok::Sym(")" | "]" | "}" | ",") | Tok::Eof);
                let value = if ends { None } else { Some(Box::new(self.expression()?)) };
                Ok(Expr::Yield(value, pos))
            }
            other => {
                self.at -= usize::from(self.at > 0 && other != Tok::Eof);
                let found = Self::describe(&other);
                Err(SyntaxError {
                    line: pos.line,
                    col: pos.col,
                    message: format!("expected an expression, found {found}"),
                })
            }
        }
    }
}
