//! The soak's extension calls: a C extension loaded with `load()` (through
//! the exported C API, as a script would) whose `sum(list)` the main
//! interpreter's load threads call while the lock changes hands, the policy
//! and switch interval change underneath, and children fork.
//!
//! Any library exporting `sum(list of ints) -> int` will do; the one the
//! soak test builds is `examples/ext/first.c` (`gilscope ext build
//! examples/ext/first.c`). Extensions are called from the main interpreter
//! only: a module object belongs to the interpreter that loaded it.
//!
//! The loaded module stays alive for as long as the library caches it (a
//! second `load` of the same file gets the same module), so the soak loads
//! it before it counts the live objects it starts with and drops it after
//! it counts those it ends with: what the calls create must all be freed.
//! Owns: its program (the `load` and the calling function) and its two
//! counters; it reads nothing of the soak's state.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use crate::gil::{self, Token};
use crate::vm::{self, Value};

/// An extension loaded into the main interpreter, and what its calls did.
pub struct Extension {
    program: Arc<vm::Program>,
    calls: AtomicU64,
    wrong: AtomicU64,
}

/// The script that loads the extension at `path` and calls its `sum` on
/// a fresh list of `0..n`.
fn script(path: &Path) -> String {
    let quoted = path.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "let soak_extension = load(\"{quoted}\")\n\
         fn extension_call(n) {{\n\
         \x20   let items = []\n\
         \x20   for i in range(n) {{ push(items, i) }}\n\
         \x20   return soak_extension.sum(items)\n\
         }}\n"
    )
}

impl Extension {
    /// Load the extension at `path` into the main interpreter and check
    /// that its `sum` answers.
    ///
    /// # Errors
    /// Why the library does not load or its `sum` does not work, in one
    /// line naming the path.
    pub fn load(path: &Path) -> Result<Extension, String> {
        let extension = gil::attach(|token| {
            let program = vm::load(token, "<soak extension>", &script(path)).map_err(|e| {
                // The first line of the rendered error, without the
                // soak's own script position.
                let first = e.lines().next().unwrap_or_default();
                let cause = first.split_once("error: ").map_or(first, |(_, cause)| cause);
                format!("cannot use {} in the soak: {cause}", path.display())
            })?;
            Ok::<_, String>(Extension {
                program,
                calls: AtomicU64::new(0),
                wrong: AtomicU64::new(0),
            })
        })?;
        gil::attach(|token| extension.call(token, 3));
        if extension.wrong.load(SeqCst) != 0 {
            return Err(format!(
                "cannot use {} in the soak: its sum([0, 1, 2]) is not 3",
                path.display()
            ));
        }
        extension.calls.store(0, SeqCst);
        Ok(extension)
    }

    /// Call `sum` on `0..n` (the interpreter's check points may switch
    /// threads inside) and count whether the answer was right.
    pub fn call(&self, token: Token<'_>, n: i64) {
        let f = self.program.global(token, "extension_call").expect("extension_call is defined");
        let result = vm::Vm::new(Arc::clone(&self.program)).call(token, f, vec![Value::Int(n)]);
        self.calls.fetch_add(1, SeqCst);
        if !matches!(result, Ok(Value::Int(total)) if total == n * (n - 1) / 2) {
            self.wrong.fetch_add(1, SeqCst);
        }
    }

    /// Calls made, and how many of them failed or answered wrong.
    pub fn counts(&self) -> (u64, u64) {
        (self.calls.load(SeqCst), self.wrong.load(SeqCst))
    }

    /// Drop the program (and with it the module's last reference held by
    /// the soak) with the lock held, as every object must be.
    pub fn unload(self) {
        gil::attach(|_| drop(self.program));
    }
}
