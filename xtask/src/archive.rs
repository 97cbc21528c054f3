//! Packing boot archives for the guest.

use anyhow::{anyhow, Result};
use zpager_ipc::bootarchive::{ArchiveBuilder, EntryKind, CONFIG_ENTRY};
use zpager_ipc::bootconfig::BootConfig;

/// The archive for a boot with `config` (today: the configuration only;
/// the memory server and clients join it with the next issue).
pub fn pack(config: &BootConfig) -> Result<Vec<u8>> {
    let mut text = String::new();
    config
        .write_to(&mut text)
        .map_err(|_| anyhow!("formatting the boot configuration"))?;
    let mut builder = ArchiveBuilder::new();
    builder
        .add(CONFIG_ENTRY, EntryKind::Config, text.into_bytes())
        .map_err(|e| anyhow!("{e}"))?;
    builder.build().map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpager_ipc::bootarchive::Archive;
    use zpager_ipc::bootconfig::SelfTest;

    #[test]
    fn packed_config_reads_back() {
        let config = BootConfig {
            selftest: SelfTest::ProgramCheck,
        };
        let image = pack(&config).unwrap();
        let archive = Archive::parse(&image).unwrap();
        let entry = archive.find(CONFIG_ENTRY).unwrap();
        assert_eq!(entry.kind, EntryKind::Config);
        assert_eq!(BootConfig::parse(entry.data).unwrap(), config);
    }
}
