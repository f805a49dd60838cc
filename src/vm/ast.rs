//! The syntax tree the parser builds and the compiler reads.
//!
//! Names are already resolved: every declaration has a [`DeclId`], and every
//! use says whether it is a local of the current function, a variable
//! captured from an enclosing function, or a global (top-level) name.

/// A declaration: a `let`, a parameter, a `for` variable, a `fn` name.
pub type DeclId = u32;

/// A 1-based source position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line.
    pub line: u32,
    /// Column.
    pub col: u32,
}

/// How a name use was resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Res {
    /// A local of the current function.
    Local(DeclId),
    /// A local of an enclosing function, reached through a capture.
    Capture(DeclId),
    /// A top-level variable or a built-in.
    Global(String),
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (floor division on integers)
    Div,
    /// `%`
    Mod,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `**` (power, right-associative)
    Pow,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `not x`
    Not,
}

/// An expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A string literal.
    Str(String),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `{k: v}`
    Map(Vec<(Expr, Expr)>),
    /// A variable, resolved; its name and position.
    Name(Res, String, Pos),
    /// `a OP b`
    Binary(BinOp, Box<Expr>, Box<Expr>, Pos),
    /// `OP a`
    Unary(UnOp, Box<Expr>, Pos),
    /// `a and b` (short-circuit)
    And(Box<Expr>, Box<Expr>),
    /// `a or b` (short-circuit)
    Or(Box<Expr>, Box<Expr>),
    /// `f(args)`
    Call(Box<Expr>, Vec<Expr>, Pos),
    /// `a[i]` or `a.name`
    Index(Box<Expr>, Box<Expr>, Pos),
    /// `a[start:end]`, either bound optional
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>, Pos),
    /// `fn (params) { body }`
    Func(Box<FnDef>),
    /// `yield` or `yield value`
    Yield(Option<Box<Expr>>, Pos),
}

/// What an assignment writes to.
#[derive(Clone, Debug)]
pub enum Target {
    /// A variable.
    Name(Res, String, Pos),
    /// `a[i]`
    Index(Expr, Expr, Pos),
}

/// What a `for` loop walks over.
#[derive(Clone, Debug)]
pub enum ForIter {
    /// `range(end)` / `range(start, end)`: compiled to a counting loop.
    Range(Expr, Expr),
    /// Any other value: a list, a map's keys, a string's characters, a
    /// generator.
    Value(Expr),
}

/// A statement.
#[derive(Clone, Debug)]
#[allow(missing_docs)] // fields of the statement variants are named for what they hold
pub enum Stmt {
    /// `let name = value`
    Let { decl: DeclId, name: String, value: Expr, global: bool, pos: Pos },
    /// `fn name(params) { body }`
    Fn { decl: DeclId, def: Box<FnDef>, global: bool },
    /// `target = value`, or `+=` and friends
    Assign { target: Target, op: Option<BinOp>, value: Expr, pos: Pos },
    /// An expression whose value is dropped.
    Expr(Expr, Pos),
    /// `if cond { } else { }`
    If { cond: Expr, then: Vec<Stmt>, otherwise: Vec<Stmt> },
    /// `while cond { }`
    While { cond: Expr, body: Vec<Stmt> },
    /// `for var in iter { }`
    For { var: DeclId, iter: ForIter, body: Vec<Stmt>, pos: Pos },
    /// `break`
    Break(Pos),
    /// `continue`
    Continue(Pos),
    /// `return [value]`
    Return(Option<Expr>, Pos),
    /// `try { } catch e { } finally { }` (at least one of catch, finally)
    Try {
        body: Vec<Stmt>,
        catch: Option<(DeclId, Vec<Stmt>)>,
        finally: Option<Vec<Stmt>>,
        pos: Pos,
    },
    /// `with lock { }`: acquire, run the body, release on every way out
    With { lock: Expr, body: Vec<Stmt>, pos: Pos },
}

/// A function literal or declaration.
#[derive(Clone, Debug)]
pub struct FnDef {
    /// Its name, or `<fn>` for an anonymous one.
    pub name: String,
    /// Parameter declarations, in order.
    pub params: Vec<DeclId>,
    /// The body.
    pub body: Vec<Stmt>,
    /// Whether the body contains `yield`: calling it makes a generator.
    pub is_generator: bool,
    /// Where it starts.
    pub pos: Pos,
}

/// A parsed script.
#[derive(Clone, Debug)]
pub struct Script {
    /// The top level, compiled as the body of the main function.
    pub body: Vec<Stmt>,
    /// Which declarations are captured by an inner function.
    pub captured: Vec<bool>,
    /// Top-level names, in order of declaration.
    pub globals: Vec<String>,
}
