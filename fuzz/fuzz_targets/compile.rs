//! Lexer, parser and compiler on arbitrary input: any bytes must give a
//! program or a clean syntax error, never a panic, a hang or a stack
//! overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    gilscope::gil::attach(|token| {
        if let Err(error) = gilscope::vm::compile(token, "fuzz.toy", source, &[]) {
            // Rendering the error (source line, caret) must not fail either.
            let _ = error.render("fuzz.toy", source);
        }
    });
});
