//! Statements: blocks, `let`, `if`, loops, functions, `return`, `yield`,
//! assignments. Owns: where a statement ends and which names it declares.
//! May not touch: the token stream except through the parser's helpers.

use super::*;

impl Parser {
    pub(super) fn block(&mut self) -> PResult<Vec<Stmt>> {
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

    pub(super) fn statement(&mut self) -> PResult<Stmt> {
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
        if self.eat("try") {
            return self.try_rest(pos);
        }
        if self.eat("with") {
            let lock = self.expression()?;
            let body = self.block()?;
            return Ok(Stmt::With { lock, body, pos });
        }
        if self.eat("break") {
            return self.loop_exit("'break' outside a loop", Stmt::Break(pos));
        }
        if self.eat("continue") {
            return self.loop_exit("'continue' outside a loop", Stmt::Continue(pos));
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

    pub(super) fn if_rest(&mut self) -> PResult<Stmt> {
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
    pub(super) fn function_rest(&mut self, name: String, pos: Pos) -> PResult<FnDef> {
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

    /// After `try`: the body, then `catch NAME { }` and/or `finally { }`.
    fn try_rest(&mut self, pos: Pos) -> PResult<Stmt> {
        let body = self.block()?;
        let catch = if self.eat("catch") {
            let name = self.ident("after 'catch' (the name the error is bound to)")?;
            // The error's name lives in a block of its own around the body.
            self.current().blocks.push(Vec::new());
            let decl = self.declare(&name);
            let handler = self.block()?;
            self.current().blocks.pop();
            Some((decl, handler))
        } else {
            None
        };
        let finally = if self.eat("finally") { Some(self.block()?) } else { None };
        if catch.is_none() && finally.is_none() {
            return self.error_here("expected 'catch' or 'finally' after the 'try' block");
        }
        Ok(Stmt::Try { body, catch, finally, pos })
    }

    /// `break` or `continue` (`stmt`), an error outside a loop.
    fn loop_exit(&self, outside: &str, stmt: Stmt) -> PResult<Stmt> {
        if self.fns.last().expect("a function scope").loops == 0 {
            let (Stmt::Break(pos) | Stmt::Continue(pos)) = stmt else {
                unreachable!("only break and continue leave a loop")
            };
            return Err(SyntaxError { line: pos.line, col: pos.col, message: outside.into() });
        }
        Ok(stmt)
    }
}
