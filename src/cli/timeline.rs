//! `gilscope timeline TRACE -o OUT.svg`: a trace written by `--trace`,
//! drawn as an SVG timeline.

use std::path::Path;
use std::process::ExitCode;

/// Read the trace, draw it, write the picture: 2 if the trace cannot be
/// read, 1 if it is not a trace or the picture cannot be written.
pub fn draw(trace: &Path, output: &Path, width: u32, title: Option<String>) -> ExitCode {
    let text = match std::fs::read(trace) {
        Ok(text) => text,
        Err(err) => {
            gilscope::stderr_println!("gilscope: error: cannot read {}: {err}", trace.display());
            return ExitCode::from(2);
        }
    };
    let json: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(json) => json,
        Err(err) => {
            gilscope::stderr_println!("gilscope: error: {} is not JSON: {err}", trace.display());
            return ExitCode::from(1);
        }
    };
    let title = title.unwrap_or_else(|| format!("gilscope: {}", trace.display()));
    match gilscope::observe::svg::render(&json, width, &title) {
        Ok(svg) => match std::fs::write(output, svg) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                gilscope::stderr_println!(
                    "gilscope: error: cannot write {}: {err}",
                    output.display()
                );
                ExitCode::from(1)
            }
        },
        Err(err) => {
            gilscope::stderr_println!("gilscope: error: {}: {err}", trace.display());
            ExitCode::from(1)
        }
    }
}
