//! The toy interpreter: a small language whose threads run under the lock.
//!
//! | file | owns |
//! |---|---|
//! | `lexer.rs` | source text to tokens |
//! | `parser/` | tokens to a syntax tree, names resolved (statements, expressions) |
//! | `ast.rs` | the syntax tree |
//! | `compiler/` | syntax tree to bytecode (statements, names, expressions) |
//! | `bytecode.rs` | the instructions and compiled functions |
//! | `value/` | values and reference-counted objects — the invariant lives here; the native-function type; messages and channels (public here as [`message`] and [`channel`]) |
//! | `machine/` | [`Vm`] and [`Program`]: the loop that runs bytecode, with check points, one file per opcode family |
//! | `natives/` | built-in functions, the `c` module, the thread built-ins, and their argument helpers |
//! | `threads.rs` | starting interpreter threads and interpreters, and waiting for them |
//! | `error.rs` | syntax and runtime errors and how they print |
//!
//! The arrows point down: `value/` imports nothing above it (natives see the
//! interpreter only through [`NativeCtx`]); `natives/` do not name
//! the machine; the machine calls natives through their [`NativeFn`].
//! The submodules are private; this file's `pub use`s are the surface.
//!
//! This module uses the lock only through [`crate::gil`]'s public API and
//! calls C only through [`crate::ffi::clib`]. Nothing outside it touches an
//! object.
//!
//! ```
//! use gilscope::vm::{self, Outcome};
//! let outcome = vm::run_source("example.toy", "let x = 6 * 7\nassert(x == 42)", &[]);
//! assert_eq!(outcome, Outcome::Ok);
//! ```

mod ast;
mod bytecode;
mod compiler;
mod error;
mod lexer;
mod machine;
mod natives;
mod parser;
mod threads;
mod value;

pub use value::{channel, message};

pub use error::{RtError, RtKind, SyntaxError};
pub use machine::{Program, Vm};
pub use natives::sleep_released;
pub use value::{
    Callback, DEFAULT_MEMORY_LIMIT, ForeignFn, Native, NativeCtx, NativeFn, NativeKind, Parcel,
    Value, live_bytes, live_objects, memory_limit, set_memory_limit,
};
/// The object model, for the C extension layer (`crate::ext`), which hands
/// objects to C.
pub(crate) use value::{Key, Obj, ObjRef, map_table};

use std::sync::Arc;

use crate::gil::{self, Token};
use value::LockedCells;

/// How a script run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end.
    Ok,
    /// It did not parse or compile; the rendered message.
    SyntaxError(String),
    /// It raised an error; the rendered message and trace.
    RuntimeError(String),
    /// It was interrupted (Ctrl+C).
    Interrupted,
}

impl Outcome {
    /// The process exit code for this outcome: 0, 1 or 130.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::SyntaxError(_) | Outcome::RuntimeError(_) => 1,
            Outcome::Interrupted => 130,
        }
    }
}

/// Parse and compile `source` into a program.
pub fn compile(
    token: Token<'_>,
    file: &str,
    source: &str,
    args: &[String],
) -> Result<Arc<Program>, SyntaxError> {
    let script = parser::parse(source)?;
    let main = compiler::compile(token, &script)?;
    let globals = LockedCells::new(token, vec![Value::Unset; script.globals.len()]);
    Ok(Arc::new(Program {
        file: file.to_owned(),
        source: source.to_owned(),
        main,
        globals,
        global_names: script.globals,
        builtins: LockedCells::new(token, natives::make_all(token)),
        threads: threads::Running::default(),
        args: args.to_vec(),
        budget: u64::MAX,
    }))
}

/// Compile `source` and run its top level, for Rust code that then calls
/// its functions (see [`Program::global`]). Errors come back as text.
pub fn load(token: Token<'_>, file: &str, source: &str) -> Result<Arc<Program>, String> {
    let program = compile(token, file, source, &[]).map_err(|e| e.render(file, source))?;
    Vm::new(Arc::clone(&program)).run_main(token).map_err(|e| e.render_in(file, source))?;
    Ok(program)
}

/// The stack of the thread that parses, compiles and runs a script: deep
/// enough for the parser's and compiler's nesting limits whatever the
/// calling thread's own stack is. Only the pages used are ever touched.
pub const INTERPRETER_STACK: usize = 256 << 20;

/// Run a script, wait for the threads it started, and report how it ended.
/// Errors are rendered, not printed. The script runs on a thread of its own
/// named like the caller, with [`INTERPRETER_STACK`] bytes of stack; the
/// caller waits without holding the lock.
pub fn run_source(file: &str, source: &str, args: &[String]) -> Outcome {
    if gil::holds_lock() {
        // Waiting for another thread while holding the lock would deadlock.
        return run_here(file, source, args);
    }
    let name = gil::thread_name(gil::current_serial());
    let (file, source, args) = (file.to_owned(), source.to_owned(), args.to_vec());
    let spawned = std::thread::Builder::new()
        .name(name.clone())
        .stack_size(INTERPRETER_STACK)
        .spawn(move || {
            gil::set_thread_name(&name);
            run_here(&file, &source, &args)
        });
    match spawned.map(|handle| handle.join()) {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => {
            Outcome::RuntimeError(format!("gilscope: cannot start the interpreter thread: {e}\n"))
        }
    }
}

/// Run `source` on the calling thread with at most `check_points` loop
/// iterations and calls per interpreter thread (threads it starts
/// included). For fuzzing: no input runs away.
pub fn run_with_budget(source: &str, check_points: u64) -> Outcome {
    gil::attach(|token| {
        let mut program = match compile(token, "<fuzz>", source, &[]) {
            Ok(program) => program,
            Err(e) => return Outcome::SyntaxError(e.render("<fuzz>", source)),
        };
        Arc::get_mut(&mut program).expect("a freshly compiled program is not shared yet").budget =
            check_points.max(1);
        let mut vm = Vm::new(Arc::clone(&program));
        let result = vm.run_main(token);
        drop(vm);
        program.threads.wait_finished(token);
        match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.kind == RtKind::Interrupted => Outcome::Interrupted,
            Err(e) => Outcome::RuntimeError(e.render_in("<fuzz>", source)),
        }
    })
}

/// Run a script on the calling thread (see [`run_source`]).
pub fn run_here(file: &str, source: &str, args: &[String]) -> Outcome {
    gil::attach(|token| {
        let program = match compile(token, file, source, args) {
            Ok(program) => program,
            Err(e) => return Outcome::SyntaxError(e.render(file, source)),
        };
        let mut vm = Vm::new(Arc::clone(&program));
        let result = vm.run_main(token);
        drop(vm);
        program.threads.wait_all(token);
        if gil::interrupted() {
            // The command line exits at once: detach the threads, which
            // stop at their next check point, rather than wait for them.
            program.threads.detach_all();
        } else {
            // Every thread has finished: join those the script never
            // joined, so none is left joinable behind the run
            // (ThreadSanitizer reported them as leaked threads when a test
            // ran many scripts in one process).
            program.threads.wait_finished(token);
        }
        match result {
            Ok(_) if gil::interrupted() => Outcome::Interrupted,
            Ok(_) => Outcome::Ok,
            Err(e) if e.kind == RtKind::Interrupted => Outcome::Interrupted,
            Err(e) => Outcome::RuntimeError(e.render_in(file, source)),
        }
    })
}
