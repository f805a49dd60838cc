//! Keys while the demo runs: `r` flips release, `+`/`-` change the switch
//! interval, `q` stops, Ctrl+C interrupts.
//!
//! Only when stdin and stdout are terminals. The terminal is put in raw mode
//! for single key presses and restored when the [`Keys`] is dropped, and by
//! a panic hook, so no path out leaves it raw.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal;

use super::DemoState;
use crate::gil;

/// The key reader; dropping it restores the terminal.
pub struct Keys {
    done: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// Whether keys can be read: stdin and stdout are both terminals.
pub fn available() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

impl Keys {
    /// Start reading keys, or `None` if the terminal cannot go raw.
    pub fn start(state: Arc<DemoState>) -> Option<Keys> {
        if !available() || terminal::enable_raw_mode().is_err() {
            return None;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = terminal::disable_raw_mode();
            previous(info);
        }));
        let done = Arc::new(AtomicBool::new(false));
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
                            handle_key(&state, key);
                        }
                    }
                }
            })
            .ok();
        Some(Keys { done, handle })
    }
}

fn handle_key(state: &DemoState, key: KeyEvent) {
    if key.kind != KeyEventKind::Press {
        return;
    }
    match key.code {
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            gil::request_interrupt()
        }
        KeyCode::Char('r') | KeyCode::Char('R') => state.toggle_release(),
        KeyCode::Char('+') | KeyCode::Char('=') => {
            let next = (gil::switch_interval() * 2).min(Duration::from_secs(2));
            gil::set_switch_interval(next);
        }
        KeyCode::Char('-') | KeyCode::Char('_') => {
            let next = (gil::switch_interval() / 2).max(Duration::from_micros(100));
            gil::set_switch_interval(next);
        }
        KeyCode::Char('q') | KeyCode::Esc => state.request_stop(),
        _ => {}
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.done.store(true, SeqCst);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        let _ = terminal::disable_raw_mode();
    }
}
