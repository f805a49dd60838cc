//! Why a handle could not be used: what every misuse report about an
//! object names.
//!
//! This file owns the two error types of the handle tables and their
//! messages; the checks that produce them are the parent's (`handles.rs`).

/// Why a handle does not name a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadHandle {
    /// NULL.
    Null,
    /// A pointer this library never handed out.
    Foreign,
    /// A handle whose object was freed (its last reference given back).
    Freed,
    /// A borrowed handle used after the call scope that lent it closed
    /// (the object itself may well be alive: the handle is not).
    LentScopeClosed,
    /// A live handle of another interpreter (its id), used by a thread
    /// holding another interpreter's lock.
    OtherInterpreter(u32),
}

impl BadHandle {
    /// The message, for misuse reports.
    pub fn describe(self) -> String {
        match self {
            BadHandle::Null => "the object is NULL".to_owned(),
            BadHandle::Foreign => "the pointer is not an object this library handed out \
                                  (never dereferenced)"
                .to_owned(),
            BadHandle::Freed => "the object was already freed: its last reference was given \
                                back (a double gs_decref, or a reference used after gs_decref)"
                .to_owned(),
            BadHandle::LentScopeClosed => "the reference was borrowed, and the call that lent it \
                                          has returned (an argument, or a gs_list_get or \
                                          gs_map_get result, is valid only until the call it \
                                          was lent to returns; gs_incref it to keep it longer)"
                .to_owned(),
            BadHandle::OtherInterpreter(owner) => {
                let here = crate::gil::current_interpreter().id();
                format!(
                    "the object belongs to interpreter {owner}, but this thread runs in \
                     interpreter {here}: objects never cross between interpreters (keep one \
                     per interpreter, or send copies)"
                )
            }
        }
    }
}

/// Why `gs_decref` (or taking a returned reference) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecrefError {
    /// Not a live handle.
    Bad(BadHandle),
    /// Live, but C owns no reference to it (only borrowed it).
    NotOwned,
}
