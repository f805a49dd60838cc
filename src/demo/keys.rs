//! Keys while the demo runs: `r` flips release (C work), `+`/`-` change the
//! switch interval (interpreted work, and C that checks for waiters), `q`
//! stops (in a tour: skips to the next part), Ctrl+C interrupts.
//!
//! Only while the terminal is raw (see [`super::terminal`], which owns and
//! restores it); keys that do nothing in the current mode are ignored, and
//! [`hints`] lists only the ones that do something. The reader stops when
//! the computation ends, so no key changes a finished run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::{DemoConfig, DemoState, Work};
use crate::gil;

/// The key reader; dropping it stops it.
pub struct Keys {
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// One key the hint shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hint {
    /// The key.
    pub key: &'static str,
    /// What it does.
    pub does: &'static str,
    /// What it does, in a word.
    pub short: &'static str,
}

/// The keys that do something in this configuration, in the order the
/// hint shows them.
pub fn hints(config: &DemoConfig) -> Vec<Hint> {
    let mut keys = Vec::new();
    if config.work == Work::C {
        keys.push(Hint { key: "r", does: "release on/off", short: "release" });
    }
    if interval_matters(config) {
        keys.push(Hint { key: "+/-", does: "switch interval", short: "interval" });
    }
    match config.tour_part {
        Some((part, parts)) if part < parts => {
            keys.push(Hint { key: "q", does: "next part", short: "next" })
        }
        _ => keys.push(Hint { key: "q", does: "quit", short: "quit" }),
    }
    keys
}

/// The switch interval decides when a waiting thread gets the lock only
/// where the holder offers it: interpreted code, and C calling
/// gs_check_switch(). C that keeps or releases the lock outright ignores it.
fn interval_matters(config: &DemoConfig) -> bool {
    matches!(config.work, Work::Bytecode | Work::Check)
}

impl Keys {
    /// Start reading keys; the terminal must already be raw.
    pub fn start(state: Arc<DemoState>, config: &DemoConfig) -> Option<Keys> {
        let done = Arc::new(AtomicBool::new(false));
        let config = config.clone();
        let handle = std::thread::Builder::new()
            .name("keys".into())
            .spawn({
                let done = Arc::clone(&done);
                move || {
                    while !done.load(SeqCst) {
                        if !event::poll(Duration::from_millis(50)).unwrap_or(false) {
                            continue;
                        }
                        if let Ok(Event::Key(key)) = event::read() {
                            handle_key(&state, &config, key);
                        }
                    }
                }
            })
            .ok()?;
        Some(Keys { done, handle: Some(handle) })
    }
}

fn handle_key(state: &DemoState, config: &DemoConfig, key: KeyEvent) {
    if key.kind != KeyEventKind::Press {
        return;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            gil::request_interrupt()
        }
        KeyCode::Char('r' | 'R') if config.work == Work::C => state.toggle_release(),
        KeyCode::Char('+' | '=') if interval_matters(config) => {
            state.set_switch_interval((gil::switch_interval() * 2).min(Duration::from_secs(2)));
        }
        KeyCode::Char('-' | '_') if interval_matters(config) => {
            state.set_switch_interval((gil::switch_interval() / 2).max(Duration::from_micros(100)));
        }
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => state.request_stop(),
        _ => {}
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.done.store(true, SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
