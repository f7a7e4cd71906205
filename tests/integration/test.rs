//! The one way integration tests run gate: a temporary git repository with the files a test
//! writes, the real binary, a cleared environment, and output with durations redacted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Test {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

/// A staged run keeps a checkout per repository in the temporary directory, named by a hash
/// of the repository's top (see `staged::Checkout`); a test's repository is gone when the test
/// ends, so its kept checkout goes too.
impl Drop for Test {
    fn drop(&mut self) {
        if let Ok(top) = self.dir.path().canonicalize() {
            let tag = &blake3::hash(top.as_os_str().as_encoded_bytes()).to_hex()[..12];
            let _ = std::fs::remove_dir_all(
                std::env::temp_dir().join(format!("gate-staged-{tag}-kept")),
            );
        }
    }
}

/// What a run printed and returned, durations replaced by `[T]`.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Test {
        let dir = tempfile::Builder::new()
            .prefix("gate-test-")
            .tempdir()
            .expect("a temporary directory");
        let status = Command::new("git")
            .args(["init", "-q"])
            .current_dir(dir.path())
            .status()
            .expect("git runs");
        assert!(status.success(), "git init failed");
        let cwd = dir.path().to_path_buf();
        Test {
            dir,
            env: Vec::new(),
            cwd,
        }
    }

    /// Writes the root gates.kdl.
    pub fn gates(self, text: &str) -> Test {
        self.file("gates.kdl", text)
    }

    /// Writes a file (parents created) relative to the root.
    pub fn file(self, path: &str, contents: &str) -> Test {
        self.write(path, contents.as_bytes());
        self
    }

    pub fn write(&self, path: &str, contents: &[u8]) {
        let path = self.dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a file has a parent"))
            .expect("create parent directories");
        std::fs::write(path, contents).expect("write a test file");
    }

    /// Sets a variable in gate's otherwise cleared environment.
    pub fn env(mut self, name: &str, value: &str) -> Test {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Runs gate from this directory (relative to the root) instead of the root.
    pub fn cwd(mut self, path: &str) -> Test {
        self.cwd = self.dir.path().join(path);
        std::fs::create_dir_all(&self.cwd).expect("create the working directory");
        self
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gate"));
        command.args(args).current_dir(&self.cwd).env_clear();
        command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        command.env("HOME", self.dir.path());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command.stdin(Stdio::null());
        command
    }

    /// Runs gate to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("gate runs");
        Output {
            status: output.status.code().unwrap_or(-1),
            stdout: redact(&String::from_utf8_lossy(&output.stdout)),
            stderr: redact(&String::from_utf8_lossy(&output.stderr)),
        }
    }

    /// Starts gate without waiting, output captured.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gate starts")
    }

    /// Waits (up to a generous limit) for a file the gates write.
    pub fn wait_for(&self, relative: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.path(relative).exists() {
            assert!(Instant::now() < deadline, "{relative} never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Output {
    /// Asserts the exit code, showing all output when it differs.
    #[track_caller]
    pub fn status(&self, expected: i32) -> &Output {
        assert_eq!(
            self.status, expected,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout(&self, expected: &str) -> &Output {
        assert_eq!(
            self.stdout, expected,
            "stdout differs\n--- stderr\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr(&self, expected: &str) -> &Output {
        assert_eq!(
            self.stderr, expected,
            "stderr differs\n--- stdout\n{}",
            self.stdout
        );
        self
    }

    /// The first line of each diagnostic (`  × message`), in order.
    pub fn headlines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("  × "))
            .collect()
    }

    /// stdout up to the `slowest:` line, and that line's rest: the slowest gates are ordered by
    /// duration, which no test can predict.
    #[track_caller]
    pub fn split_slowest(&self) -> (&str, &str) {
        self.stdout.split_once("slowest: ").expect("a slowest line")
    }

    #[track_caller]
    pub fn stdout_has(&self, part: &str) -> &Output {
        assert!(
            self.stdout.contains(part),
            "stdout lacks {part:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, part: &str) -> &Output {
        assert!(
            self.stderr.contains(part),
            "stderr lacks {part:?}\n--- stderr\n{}",
            self.stderr
        );
        self
    }
}

/// Replaces every duration (`0.41s`, `12.00s`) with `[T]`.
pub fn redact(text: &str) -> String {
    let pattern = regex::Regex::new(r"\b\d+\.\d{2}s\b").expect("a valid pattern");
    pattern.replace_all(text, "[T]").into_owned()
}

/// Whether a process is alive: it exists and is not a zombie waiting to be reaped.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Waits up to a few seconds for a process to be gone.
pub fn dies(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}
