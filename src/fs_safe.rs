//! Writing files so that nothing a user made is lost: the new bytes go to a temporary file beside
//! the target, are flushed to disk, and only then renamed over it. A full disk, a path that
//! cannot be written or an interruption leaves the previous file as it was (and no stray
//! temporary file when the write itself fails).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file `write_atomically` writes first: `<name>.tmp` beside `path`.
pub fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` all at once, or not at all.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temporary_beside(path);
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Replaces `path` with what `write` puts into a temporary file beside it, or leaves it as it
/// was. The temporary file is `<name>.partial.<ext>`: it keeps the extension, for writers that
/// pick the format by it (the loss plot's PNG encoder).
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    let partial = path.with_file_name(name);
    let written = write(&partial).and_then(|()| {
        std::fs::rename(&partial, path)
            .map_err(|e| format!("{}: cannot write: {e}", path.display()))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("take.mid");
        std::fs::write(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // The target is a directory: the rename fails, the directory and nothing else remains.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("inside"), b"kept").unwrap();
        assert!(write_atomically(&blocked, b"x").is_err());
        assert_eq!(std::fs::read(blocked.join("inside")).unwrap(), b"kept");
        assert!(!temporary_beside(&blocked).exists());
        // A folder that does not exist: an error, nothing written.
        let nowhere = dir.path().join("missing").join("take.mid");
        assert!(write_atomically(&nowhere, b"x").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
