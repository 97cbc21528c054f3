//! Client arguments: the words of a manifest line after the client's name
//! and options, handed to the program in its startup block.
//!
//! A program declares what it accepts in one string (through the
//! runtime's `entry!`): space-separated entries, `key=` for an argument
//! with a value (`pages=512`), a bare word for a flag (`verbose`), and `*`
//! for any bare word (a program that reads words of its own, such as
//! `bench`'s scenario names). The runtime checks the arguments against it
//! before `main` runs, and xtask checks them before it boots, by reading
//! the same string from the program's [`SECTION`].

/// The ELF section holding a program's declaration, NUL-terminated.
pub const SECTION: &str = ".zpager_args";

/// The exit status of a program started with an argument it does not
/// accept.
pub const BAD_ARGUMENT_STATUS: u64 = 2;

/// The first word of `args` that `accepted` does not allow, if any.
pub fn first_unknown<'a>(args: &'a str, accepted: &str) -> Option<&'a str> {
    args.split_whitespace().find(|word| {
        let allowed = match word.split_once('=') {
            Some((key, _)) => accepted
                .split_whitespace()
                .any(|a| a.strip_suffix('=') == Some(key)),
            None => accepted.split_whitespace().any(|a| a == *word || a == "*"),
        };
        !allowed
    })
}

/// The value of `key=value` in `args` (the first one).
pub fn value<'a>(args: &'a str, key: &str) -> Option<&'a str> {
    args.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
}

/// Whether the bare word `flag` is among `args`.
pub fn flag(args: &str, flag: &str) -> bool {
    args.split_whitespace().any(|word| word == flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_arguments_pass() {
        let accepted = "pages= regions= verbose";
        assert_eq!(first_unknown("", accepted), None);
        assert_eq!(first_unknown("pages=3 verbose  regions=", accepted), None);
        assert_eq!(first_unknown("pages=3 page=4", accepted), Some("page=4"));
        assert_eq!(first_unknown("pages", accepted), Some("pages"));
        assert_eq!(first_unknown("verbose=1", accepted), Some("verbose=1"));
        assert_eq!(first_unknown("x", ""), Some("x"));
        assert_eq!(first_unknown("fork_base null_syscall", "*"), None);
        assert_eq!(first_unknown("frames=4", "*"), Some("frames=4"));
    }

    #[test]
    fn values_and_flags() {
        assert_eq!(value("a=1 pages=512 pages=2", "pages"), Some("512"));
        assert_eq!(value("pagesx=1", "pages"), None);
        assert_eq!(value("pages", "pages"), None);
        assert!(flag("a verbose", "verbose"));
        assert!(!flag("verbose=1", "verbose"));
    }
}
