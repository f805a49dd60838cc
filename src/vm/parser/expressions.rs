//! Expressions, one method per precedence level, lowest first.
//! Owns: operator precedence and associativity, calls and indexing, literals.
//! May not touch: the token stream except through the parser's helpers.

use super::*;

impl Parser {
    pub(super) fn expression(&mut self) -> PResult<Expr> {
        self.nest()?;
        let result = self.or();
        self.unnest();
        result
    }

    pub(super) fn or(&mut self) -> PResult<Expr> {
        self.logical("or", Self::and, Expr::Or)
    }

    pub(super) fn and(&mut self) -> PResult<Expr> {
        self.logical("and", Self::not, Expr::And)
    }

    /// A chain of `and` or `or` (`word`) over `operand`s, left-associative.
    fn logical(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> PResult<Expr>,
        make: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> PResult<Expr> {
        let mut left = operand(self)?;
        while self.same_line() && self.eat(word) {
            self.chain_link()?;
            let right = operand(self)?;
            left = make(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// The operand of prefix operator `word` (parsed by `operand`, one
    /// nesting level deeper), if `word` comes next.
    fn prefixed(
        &mut self,
        word: &str,
        operand: fn(&mut Self) -> PResult<Expr>,
    ) -> PResult<Option<Expr>> {
        if !self.eat(word) {
            return Ok(None);
        }
        self.nest()?;
        let operand = operand(self)?;
        self.unnest();
        Ok(Some(operand))
    }

    pub(super) fn not(&mut self) -> PResult<Expr> {
        let pos = self.pos();
        if let Some(operand) = self.prefixed("not", Self::not)? {
            return Ok(Expr::Unary(UnOp::Not, Box::new(operand), pos));
        }
        self.comparison()
    }

    pub(super) fn comparison(&mut self) -> PResult<Expr> {
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

    pub(super) fn additive(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::multiplicative, |tok| match tok {
            Tok::Sym("+") => Some(BinOp::Add),
            Tok::Sym("-") => Some(BinOp::Sub),
            _ => None,
        })
    }

    pub(super) fn multiplicative(&mut self) -> PResult<Expr> {
        self.left_assoc(Self::unary, |tok| match tok {
            Tok::Sym("*") => Some(BinOp::Mul),
            Tok::Sym("/") => Some(BinOp::Div),
            Tok::Sym("%") => Some(BinOp::Mod),
            _ => None,
        })
    }

    /// One level of left-associative binary operators: operands parsed by
    /// `operand`, joined by the operators `op_of` recognises, on one line.
    pub(super) fn left_assoc(
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

    pub(super) fn unary(&mut self) -> PResult<Expr> {
        let pos = self.pos();
        if let Some(operand) = self.prefixed("-", Self::unary)? {
            return Ok(match operand {
                Expr::Int(v) if v != i64::MIN => Expr::Int(-v),
                Expr::Float(v) => Expr::Float(-v),
                other => Expr::Unary(UnOp::Neg, Box::new(other), pos),
            });
        }
        self.power()
    }

    /// `a ** b`: binds tighter than unary minus on its left (`-2 ** 2` is
    /// -4) and groups to the right (`2 ** 3 ** 2` is 2 ** 9), as in Python.
    pub(super) fn power(&mut self) -> PResult<Expr> {
        let base = self.postfix()?;
        if !(self.is("**") && self.same_line()) {
            return Ok(base);
        }
        let pos = self.pos();
        self.advance();
        self.chain_link()?;
        self.nest()?;
        let exponent = self.unary()?;
        self.unnest();
        Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent), pos))
    }

    pub(super) fn postfix(&mut self) -> PResult<Expr> {
        let mut expr = self.primary()?;
        let mut chain = 0u32;
        loop {
            if !self.same_line() {
                return Ok(expr);
            }
            let pos = self.pos();
            if self.eat("(") {
                let args = self.comma_list(
                    ")",
                    "to close the argument list",
                    Some((255, "too many arguments (at most 255)")),
                    Self::expression,
                )?;
                expr = Expr::Call(Box::new(expr), args, pos);
            } else if self.eat("[") {
                self.brackets += 1;
                let start = if self.is(":") { None } else { Some(self.expression()?) };
                if self.eat(":") {
                    let end = if self.is("]") { None } else { Some(Box::new(self.expression()?)) };
                    self.expect("]", "to close the slice")?;
                    self.brackets -= 1;
                    expr = Expr::Slice(Box::new(expr), start.map(Box::new), end, pos);
                } else {
                    self.expect("]", "to close the index")?;
                    self.brackets -= 1;
                    let index = start.expect("an index before ']'");
                    expr = Expr::Index(Box::new(expr), Box::new(index), pos);
                }
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

    pub(super) fn primary(&mut self) -> PResult<Expr> {
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
                let items = self.comma_list("]", "to close the list", None, Self::expression)?;
                Ok(Expr::List(items))
            }
            Tok::Sym("{") => {
                let entries = self.comma_list("}", "to close the map", None, |p| {
                    let key = p.expression()?;
                    p.expect(":", "between a map key and its value")?;
                    Ok((key, p.expression()?))
                })?;
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

    /// Items up to `close`, separated by commas (one may trail), after an
    /// opening bracket: line breaks inside are ignored. `limit`: at most so
    /// many items, else that error.
    fn comma_list<T>(
        &mut self,
        close: &str,
        context: &str,
        limit: Option<(usize, &str)>,
        item: fn(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.brackets += 1;
        let mut items = Vec::new();
        while !self.is(close) {
            if let Some((max, too_many)) = limit {
                if items.len() >= max {
                    return self.error_here(too_many);
                }
            }
            items.push(item(self)?);
            if !self.eat(",") {
                break;
            }
        }
        self.expect(close, context)?;
        self.brackets -= 1;
        Ok(items)
    }
}
