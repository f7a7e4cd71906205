//! hook: `gate hook install|uninstall|status`. Writes a small shell script into the
//! repository's hooks directory (`git rev-parse --git-path hooks`, so `core.hooksPath` and
//! worktrees are honoured) that runs `gate run --staged TARGET` (pre-commit) or
//! `gate run --commit SHA TARGET` for each pushed commit (pre-push). The script's second
//! line marks it as gate's, with a format version; a hook gate did not write is never replaced without `--force`, which keeps it as
//! `HOOK.gate-backup`, and `uninstall` puts the backup back. Returns messages; `cli` prints.

use std::path::{Path, PathBuf};

/// The marker that starts the second line of every hook gate writes.
pub const MARKER: &str = "# gate-hook";

/// The script format; bumped when the script changes in a way `status` should mention.
pub const FORMAT: u32 = 1;

/// The suffix of a foreign hook kept by `install --force`.
pub const BACKUP: &str = ".gate-backup";

/// The hooks gate can install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    PreCommit,
    PrePush,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::PreCommit, Kind::PrePush];

    pub fn name(self) -> &'static str {
        match self {
            Kind::PreCommit => "pre-commit",
            Kind::PrePush => "pre-push",
        }
    }
}

/// What a hook file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    None,
    /// Written by gate: its format and target (`None`: the graph's default).
    Ours {
        format: u32,
        target: Option<String>,
    },
    Foreign,
}

/// The hooks directory of the repository `dir` is in (absolute).
pub fn hooks_dir(dir: &Path) -> Result<PathBuf, String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--git-path", "hooks"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|error| format!("cannot run git: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "not in a git repository: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let path = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    Ok(dir.join(path))
}

/// Reads what is installed at `path`.
pub fn inspect(path: &Path) -> Installed {
    let Ok(text) = std::fs::read_to_string(path) else {
        return if path.exists() {
            Installed::Foreign
        } else {
            Installed::None
        };
    };
    let Some(line) = text.lines().nth(1).and_then(|l| l.strip_prefix(MARKER)) else {
        return Installed::Foreign;
    };
    // `# gate-hook 1: pre-commit, target fast`
    let (format, rest) = line.trim().split_once(':').unwrap_or((line.trim(), ""));
    let target = rest
        .split(',')
        .find_map(|part| part.trim().strip_prefix("target "))
        .map(str::to_owned);
    Installed::Ours {
        format: format.trim().parse().unwrap_or(0),
        target,
    }
}

/// Single-quoted for `sh`.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script: find gate on PATH or where it was installed from, run the target. Hooks run
/// at the top of the work tree: `file` (relative to it) names a gates.kdl elsewhere. The
/// script does not change directory, so the paths git gives a hook (`GIT_INDEX_FILE`) stay
/// valid.
pub fn script(kind: Kind, target: Option<&str>, file: Option<&str>, gate: &Path) -> String {
    let shown = target.unwrap_or("default");
    let mut text = format!(
        "#!/bin/sh\n{MARKER} {FORMAT}: {}, target {shown}\n\
         # Written by `gate hook install`; `gate hook uninstall` removes it.\n",
        kind.name()
    );
    text.push_str(&format!(
        "if command -v gate >/dev/null 2>&1; then gate=gate; else gate={}; fi\n",
        quote(&gate.to_string_lossy())
    ));
    let target = target.map(|t| format!(" {}", quote(t))).unwrap_or_default();
    let file = file
        .map(|f| format!(" -f {}", quote(f)))
        .unwrap_or_default();
    match kind {
        Kind::PreCommit => {
            text.push_str(&format!("exec \"$gate\"{file} run --staged{target}\n"));
        }
        // git names what is pushed on stdin, a line per ref: `LOCAL_REF LOCAL_SHA REMOTE_REF
        // REMOTE_SHA`. Each pushed commit is checked on its own tree; a deleted ref (an
        // all-zero sha) has nothing to check.
        Kind::PrePush => text.push_str(&format!(
            "while read -r local_ref local_sha remote_ref remote_sha; do\n\
             \x20   case \"$local_sha\" in *[!0]*) ;; *) continue ;; esac\n\
             \x20   \"$gate\"{file} run --commit \"$local_sha\"{target} </dev/null || exit 1\n\
             done\n\
             exit 0\n"
        )),
    }
    text
}

/// Installs the hook; returns what was done, in words. `Err` when a foreign hook is in the
/// way (without `force`) or a file cannot be written.
pub fn install(
    dir: &Path,
    kind: Kind,
    target: Option<&str>,
    file: Option<&str>,
    force: bool,
) -> Result<String, String> {
    let hooks = hooks_dir(dir)?;
    let path = hooks.join(kind.name());
    let backup = hooks.join(format!("{}{BACKUP}", kind.name()));
    let gate = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("gate"));
    let text = script(kind, target, file, &gate);
    let mut note = String::new();
    match inspect(&path) {
        Installed::Ours { .. } if std::fs::read_to_string(&path).ok().as_deref() == Some(&text) => {
            return Ok(format!(
                "{} hook already installed: {}",
                kind.name(),
                path.display()
            ));
        }
        Installed::Ours { .. } | Installed::None => {}
        Installed::Foreign if !force => {
            return Err(format!(
                "{} exists and was not written by gate; left alone (--force replaces it and \
                 keeps it as {})",
                path.display(),
                backup.display()
            ));
        }
        Installed::Foreign => {
            if backup.exists() {
                return Err(format!(
                    "{} exists and so does the backup {}: move one of them away first",
                    path.display(),
                    backup.display()
                ));
            }
            std::fs::rename(&path, &backup)
                .map_err(|error| format!("cannot back up {}: {error}", path.display()))?;
            note = format!(" (the previous hook is kept as {})", backup.display());
        }
    }
    std::fs::create_dir_all(&hooks)
        .map_err(|error| format!("cannot create {}: {error}", hooks.display()))?;
    write_executable(&path, &text)?;
    Ok(format!(
        "installed the {} hook: {} runs `gate run{} {}`{}{note}",
        kind.name(),
        path.display(),
        if kind == Kind::PreCommit {
            " --staged"
        } else {
            " --commit SHA"
        },
        target.unwrap_or("(default target)"),
        if kind == Kind::PrePush {
            " for each pushed commit"
        } else {
            ""
        }
    ))
}

fn write_executable(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .map_err(|error| format!("cannot write in {}: {error}", dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    file.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))
        .map_err(|error| format!("cannot make {} executable: {error}", path.display()))?;
    file.persist(path)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(())
}

/// Removes gate's hook and restores the backup, if any.
pub fn uninstall(dir: &Path, kind: Kind) -> Result<String, String> {
    let hooks = hooks_dir(dir)?;
    let path = hooks.join(kind.name());
    let backup = hooks.join(format!("{}{BACKUP}", kind.name()));
    match inspect(&path) {
        Installed::Foreign => Err(format!(
            "{} was not written by gate; left alone",
            path.display()
        )),
        Installed::None if !backup.exists() => Ok(format!("no {} hook installed", kind.name())),
        found => {
            if found != Installed::None {
                std::fs::remove_file(&path)
                    .map_err(|error| format!("cannot remove {}: {error}", path.display()))?;
            }
            if backup.exists() {
                std::fs::rename(&backup, &path)
                    .map_err(|error| format!("cannot restore {}: {error}", backup.display()))?;
                Ok(format!(
                    "removed gate's {} hook and restored the previous one",
                    kind.name()
                ))
            } else {
                Ok(format!("removed gate's {} hook", kind.name()))
            }
        }
    }
}

/// One line per hook: what is installed, and a kept backup.
pub fn status(dir: &Path) -> Result<String, String> {
    let hooks = hooks_dir(dir)?;
    let mut out = format!("hooks directory: {}\n", hooks.display());
    for kind in Kind::ALL {
        let path = hooks.join(kind.name());
        let line = match inspect(&path) {
            Installed::None => "none".to_owned(),
            Installed::Foreign => "foreign (not written by gate)".to_owned(),
            Installed::Ours { format, target } => {
                let target = target.unwrap_or_else(|| "default".to_owned());
                let stale = if format == FORMAT {
                    String::new()
                } else {
                    format!(" (format {format}; `gate hook install` updates it)")
                };
                format!("gate, target {target}{stale}")
            }
        };
        out.push_str(&format!("{:<10}  {line}\n", kind.name()));
        let backup = hooks.join(format!("{}{BACKUP}", kind.name()));
        if backup.exists() {
            out.push_str(&format!("{:<10}  backup kept: {}\n", "", backup.display()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_recognised_as_ours_with_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pre-commit");
        let case = |target: Option<&str>, expected: Option<&str>| {
            let text = script(
                Kind::PreCommit,
                target,
                Some("sub/gates.kdl"),
                Path::new("/bin/gate"),
            );
            std::fs::write(&path, text).unwrap();
            assert_eq!(
                inspect(&path),
                Installed::Ours {
                    format: FORMAT,
                    target: expected.map(str::to_owned)
                }
            );
        };
        case(Some("fast"), Some("fast"));
        case(None, Some("default"));
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        assert_eq!(inspect(&path), Installed::Foreign);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(inspect(&path), Installed::None);
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
    }
}
