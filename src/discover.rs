//! discover: the current directory (or `-f PATH`) → the [`Root`]: the directory every relative
//! path is resolved against, and the gates.kdl that defines the graph.

use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Error};

pub const FILE_NAME: &str = "gates.kdl";

/// Where the graph lives.
#[derive(Debug, Clone)]
pub struct Root {
    /// The directory holding gates.kdl; absolute.
    pub dir: PathBuf,
    /// The gates.kdl itself; absolute.
    pub file: PathBuf,
}

/// Finds gates.kdl: `file` when given, else the first `gates.kdl` in `cwd` or a parent.
pub fn discover(cwd: &Path, file: Option<&Path>) -> Result<Root, Diagnostic> {
    if let Some(file) = file {
        let file = cwd.join(file);
        if !file.is_file() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(Diagnostic::bare(Error::Read { path: file, source }));
        }
        let file = std::path::absolute(&file).unwrap_or(file);
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.to_path_buf());
        return Ok(Root { dir, file });
    }
    cwd.ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
        .map(|file| Root {
            dir: file
                .parent()
                .expect("a joined path has a parent")
                .to_path_buf(),
            file,
        })
        .ok_or_else(|| {
            Diagnostic::bare(Error::NotFound {
                start: cwd.to_path_buf(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nearest_gates_kdl_upwards() {
        let temp = tempfile::tempdir().unwrap();
        let nested = temp.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(temp.path().join(FILE_NAME), "").unwrap();
        let root = discover(&nested, None).unwrap();
        assert_eq!(root.dir, temp.path());
        assert_eq!(root.file, temp.path().join(FILE_NAME));
    }

    #[test]
    fn explicit_file_sets_the_root_to_its_directory() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(temp.path().join("sub")).unwrap();
        std::fs::write(temp.path().join("sub/other.kdl"), "").unwrap();
        let root = discover(temp.path(), Some(Path::new("sub/other.kdl"))).unwrap();
        assert_eq!(root.dir, temp.path().join("sub"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        let error = discover(temp.path(), Some(Path::new("nope.kdl"))).unwrap_err();
        assert!(matches!(*error.error, Error::Read { .. }));
    }
}
