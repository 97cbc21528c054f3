//! Boot configuration: what the kernel should do on this boot.
//!
//! It travels as the `config` entry of the boot archive, so a scenario can be
//! chosen without rebuilding the kernel. The text is `key=value` lines;
//! blank lines and lines starting with `#` are ignored.
//!
//! | key | values | default |
//! |---|---|---|
//! | `selftest` | see [`SelfTest`] | `none` |

use core::fmt;

/// A kernel self-test chosen at boot. The failing ones exist so the test
/// suite can prove that failures are caught and reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SelfTest {
    /// Boot normally.
    #[default]
    None,
    /// Panic deliberately after boot.
    Panic,
    /// Touch memory beyond the end of storage, taking an addressing exception
    /// in supervisor state.
    ProgramCheck,
    /// Never finish (timer still ticking), to prove the host's timeout.
    Hang,
}

impl SelfTest {
    /// Every self-test, for help texts.
    pub const ALL: [SelfTest; 4] = [
        SelfTest::None,
        SelfTest::Panic,
        SelfTest::ProgramCheck,
        SelfTest::Hang,
    ];

    /// The name used in the configuration.
    pub const fn name(self) -> &'static str {
        match self {
            SelfTest::None => "none",
            SelfTest::Panic => "panic",
            SelfTest::ProgramCheck => "program-check",
            SelfTest::Hang => "hang",
        }
    }

    /// The self-test called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The parsed configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootConfig {
    /// Which self-test to run.
    pub selftest: SelfTest,
}

/// Why a configuration was rejected; carries the 1-based line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError<'a> {
    /// A line without `=`.
    NotKeyValue { line: usize },
    /// A key this kernel does not know.
    UnknownKey { line: usize, key: &'a str },
    /// A value the key does not accept.
    BadValue {
        line: usize,
        key: &'a str,
        value: &'a str,
    },
    /// The text is not UTF-8.
    NotUtf8,
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NotKeyValue { line } => write!(f, "line {line}: expected key=value"),
            ConfigError::UnknownKey { line, key } => write!(f, "line {line}: unknown key {key:?}"),
            ConfigError::BadValue { line, key, value } => {
                write!(f, "line {line}: {key}={value:?} is not a valid value")
            }
            ConfigError::NotUtf8 => write!(f, "configuration is not UTF-8"),
        }
    }
}

impl BootConfig {
    /// Parses configuration bytes.
    pub fn parse(bytes: &[u8]) -> Result<BootConfig, ConfigError<'_>> {
        let text = core::str::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8)?;
        let mut config = BootConfig::default();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (key, value) = trimmed
                .split_once('=')
                .ok_or(ConfigError::NotKeyValue { line })?;
            let (key, value) = (key.trim(), value.trim());
            match key {
                "selftest" => {
                    config.selftest = SelfTest::from_name(value).ok_or(ConfigError::BadValue {
                        line,
                        key,
                        value,
                    })?;
                }
                _ => return Err(ConfigError::UnknownKey { line, key }),
            }
        }
        Ok(config)
    }

    /// Writes the configuration in the form [`BootConfig::parse`] reads.
    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(out, "selftest={}", self.selftest.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        for t in SelfTest::ALL {
            let cfg = BootConfig { selftest: t };
            let mut s = heapless_string::Buf::default();
            cfg.write_to(&mut s).unwrap();
            assert_eq!(BootConfig::parse(s.as_bytes()).unwrap(), cfg);
        }
        assert_eq!(
            BootConfig::parse(b"# comment\n\n  selftest = hang \n").unwrap(),
            BootConfig {
                selftest: SelfTest::Hang
            }
        );
        assert_eq!(BootConfig::parse(b"").unwrap(), BootConfig::default());
    }

    #[test]
    fn reports_bad_lines() {
        assert_eq!(
            BootConfig::parse(b"selftest=none\nbogus").unwrap_err(),
            ConfigError::NotKeyValue { line: 2 }
        );
        assert_eq!(
            BootConfig::parse(b"color=blue").unwrap_err(),
            ConfigError::UnknownKey {
                line: 1,
                key: "color"
            }
        );
        assert_eq!(
            BootConfig::parse(b"selftest=explode").unwrap_err(),
            ConfigError::BadValue {
                line: 1,
                key: "selftest",
                value: "explode"
            }
        );
        assert_eq!(
            BootConfig::parse(&[0xff, 0xfe]).unwrap_err(),
            ConfigError::NotUtf8
        );
    }

    /// A tiny fixed buffer so the test needs no allocator.
    mod heapless_string {
        pub struct Buf {
            bytes: [u8; 64],
            len: usize,
        }
        impl Default for Buf {
            fn default() -> Self {
                Buf {
                    bytes: [0; 64],
                    len: 0,
                }
            }
        }
        impl Buf {
            pub fn as_bytes(&self) -> &[u8] {
                &self.bytes[..self.len]
            }
        }
        impl core::fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> core::fmt::Result {
                let end = self.len + s.len();
                self.bytes
                    .get_mut(self.len..end)
                    .ok_or(core::fmt::Error)?
                    .copy_from_slice(s.as_bytes());
                self.len = end;
                Ok(())
            }
        }
    }
}
