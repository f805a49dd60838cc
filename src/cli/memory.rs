//! `--max-memory`: the interpreter's heap limit for `run`.
//!
//! Owns: parsing the size and handing it to the interpreter
//! ([`gilscope::vm::set_memory_limit`]). The heap counts its own bytes;
//! growing past the limit is the script error "out of memory".

use clap::Args;
use gilscope::vm;

/// The heap limit option.
#[derive(Args, Clone, Debug)]
pub struct MemoryArgs {
    /// Heap limit for the script: bytes, or with a K, M or G suffix
    /// (powers of 1024); 0 for no limit. Past it, growing a string, list
    /// or map is the error "out of memory".
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub max_memory: usize,
}

impl MemoryArgs {
    /// Set the limit for this process's scripts.
    pub fn apply(&self) {
        vm::set_memory_limit(if self.max_memory == 0 { usize::MAX } else { self.max_memory });
    }
}

/// `1G`, `512M`, `64k`, `1048576`: a size in bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("unknown unit '{unit}' (use K, M or G)")),
    };
    let number: usize =
        digits.trim().parse().map_err(|_| format!("'{text}' is not a size (say 512M or 2G)"))?;
    number.checked_mul(1usize << shift).ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999999T").is_err());
    }
}
