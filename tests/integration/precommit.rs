//! The pre-commit framework (issue 5): the real `pre-commit` from PyPI runs our
//! `.pre-commit-hooks.yaml` hook from a local clone, which calls the built gate and fails the
//! hook when a gate fails; `gate import pre-commit` turns a sample configuration into gates
//! that `gate check` accepts and that run. Without `pre-commit` on PATH the framework test
//! says so and passes, unless `GATE_E2E=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::test::Test;

/// `pre-commit` on PATH, or `None` (a failure under `GATE_E2E=1`).
fn pre_commit() -> Option<PathBuf> {
    match which("pre-commit") {
        Some(path) => Some(path),
        None => {
            assert!(
                std::env::var_os("GATE_E2E").is_none_or(|v| v != "1"),
                "GATE_E2E=1 but `pre-commit` is not installed (pip install -r \
                 tests/pre-commit-requirements.txt)"
            );
            eprintln!("skipped: `pre-commit` is not installed (GATE_E2E=1 makes this a failure)");
            None
        }
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// PATH with the built gate first.
fn path_with_gate() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_gate"))
        .parent()
        .expect("a directory");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A repository holding our `.pre-commit-hooks.yaml`, committed; its HEAD commit.
fn hooks_repository(dir: &Path) -> String {
    let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml");
    let hooks = std::fs::read_to_string(&ours).expect("the repository's .pre-commit-hooks.yaml");
    assert!(hooks.contains("- id: gate") && hooks.contains("entry: gate run --staged"));
    std::fs::create_dir_all(dir).expect("a directory");
    std::fs::write(dir.join(".pre-commit-hooks.yaml"), hooks).expect("write hooks");
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "hooks"]);
    let head = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .expect("git runs");
    String::from_utf8_lossy(&head.stdout).trim().to_owned()
}

#[test]
fn the_pre_commit_framework_runs_gate_and_fails_when_a_gate_fails() {
    let Some(pre_commit) = pre_commit() else {
        return;
    };
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let hooks = scratch.path().join("gate-hooks");
    let rev = hooks_repository(&hooks);
    let config = format!(
        "repos:\n  - repo: {}\n    rev: {rev}\n    hooks:\n      - id: gate\n        args: [fast, --files]\n",
        hooks.display()
    );
    let test = Test::new()
        .gates(
            r#"
gate "fast" {
    run "! grep -n TODO src/*.txt"
    inputs "src/*.txt"
}
gate "slow" { run "echo slow" }
"#,
        )
        .file(".pre-commit-config.yaml", &config)
        .file("src/a.txt", "fine\n");
    git(test.root(), &["add", "-A"]);
    let pre_commit_run = |test: &Test, args: &[&str]| {
        Command::new(&pre_commit)
            .arg("run")
            .args(args)
            .args(["--hook-stage", "pre-commit"])
            .current_dir(test.root())
            .env("PATH", path_with_gate())
            .env("HOME", scratch.path())
            .env("PRE_COMMIT_HOME", scratch.path().join("pre-commit-home"))
            .env("PRE_COMMIT_COLOR", "never")
            .output()
            .expect("pre-commit runs")
    };
    let run = |test: &Test| pre_commit_run(test, &["--all-files"]);
    // What gate did, from its run record (a staged run works in a temporary checkout, so
    // the working tree shows nothing).
    let status = |test: &Test, gate: &str| -> Option<String> {
        let text = test.read(".gate/runs/latest/manifest.json");
        let record: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        record["execution"][gate]["status"]
            .as_str()
            .map(str::to_owned)
    };
    let passed = run(&test);
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert!(
        passed.status.success(),
        "pre-commit failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&passed.stderr)
    );
    assert!(
        stdout.contains("gate") && stdout.contains("Passed"),
        "{stdout}"
    );
    assert_eq!(
        status(&test, "fast").as_deref(),
        Some("passed"),
        "the hook ran fast"
    );
    assert_eq!(status(&test, "slow"), None, "the hook ran only its target");

    // Unchanged content is served from gate's cache: the gate does not run again.
    assert!(run(&test).status.success());
    assert_eq!(status(&test, "fast").as_deref(), Some("cached"));

    test.write("src/a.txt", b"TODO: finish\n");
    git(test.root(), &["add", "-A"]);
    let failed = run(&test);
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Failed"), "{stdout}");
    assert!(
        stdout.contains("failed  fast"),
        "gate's own report is shown:\n{stdout}"
    );
    assert!(
        stdout.contains("TODO: finish"),
        "the gate's log is shown:\n{stdout}"
    );

    // Committed, nothing staged: `--all-files` still checks every file (pre-commit passes
    // them all), where a bare `gate run --staged` would find nothing staged.
    git(test.root(), &["commit", "-qm", "todo", "--no-verify"]);
    let failed = run(&test);
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stdout)
    );
    assert_eq!(status(&test, "fast").as_deref(), Some("failed"));

    // At commit time pre-commit passes only the staged files: one the gate does not read
    // leaves it `unaffected`, so the commit is not blocked by what it does not touch.
    test.write("notes.md", b"notes\n");
    git(test.root(), &["add", "notes.md"]);
    let commit = pre_commit_run(&test, &[]);
    assert!(
        commit.status.success(),
        "{}",
        String::from_utf8_lossy(&commit.stdout)
    );
    assert_eq!(status(&test, "fast").as_deref(), Some("unaffected"));
}

/// A configuration with every kind of hook the importer knows.
const SAMPLE: &str = r#"
exclude: ^vendor/
repos:
  - repo: https://github.com/psf/black
    rev: 24.1.0
    hooks:
      - id: black
  - repo: meta
    hooks:
      - id: check-hooks-apply
  - repo: local
    hooks:
      - id: words
        name: every text file says ok
        entry: sh -c 'for f; do grep -q ok "$f" || { echo "$f lacks ok"; exit 1; }; done' sh
        language: system
        files: \.txt$
      - id: guide
        entry: sh -c 'for f; do grep -q ok "$f" || { echo "$f lacks ok"; exit 1; }; done' sh
        language: system
        files: ^docs/guide/
      - id: no-todo
        name: no TODO in src
        entry: sh -c '! grep -rn TODO src'
        language: system
        pass_filenames: false
        files: ^src/
        stages: [commit, push]
      - id: check
        entry: check.sh
        args: ["--mode", "it's strict"]
        language: script
        always_run: true
        pass_filenames: false
      - id: mypy
        entry: mypy --strict
        language: python
        additional_dependencies: [mypy==1.10]
        types: [python]
        exclude: (?x)^(tests/data/.*|docs/.*)$
      - id: odd
        entry: echo ${HOME}
        language: system
        files: foo.*bar
      - id: grep
        entry: TODO|FIXME
        language: pygrep
        args: [-i]
        files: ^src/
      - id: many
        entry: x
        language: pygrep
        args: [--multiline]
"#;

#[test]
fn an_imported_pre_commit_config_is_a_valid_graph_that_runs() {
    let test = Test::new()
        .file(".pre-commit-config.yaml", SAMPLE)
        .file("src/a.txt", "ok\n")
        .file("notes.txt", "ok too\n")
        .file("docs/guide/a.md", "ok\n")
        .file("vendor/skip.txt", "not checked\n")
        .file("check.sh", "#!/bin/sh\necho \"check $*\"\n");
    std::fs::set_permissions(
        test.path("check.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let output = test.run(&["import", "pre-commit"]);
    output.status(0);
    let gates = &output.stdout;
    for expected in [
        "gate \"words\" {",
        "    description \"every text file says ok\"",
        "    inputs \"**/*.txt\" \"!vendor/**\"",
        "xargs -0 -r sh -c",
        "gate \"no-todo\" {",
        "    run \"sh -c '! grep -rn TODO src'\"",
        "    tags \"pre-commit\" \"pre-push\"",
        "    run \"./check.sh --mode \\\"it's strict\\\"\"",
        "// check: always_run: no inputs, so it runs every time",
        "    requires \"mypy\"",
        "    inputs \"**/*.py\" \"**/*.pyi\" \"!docs/**\" \"!tests/data/**\" \"!vendor/**\"",
        "// mypy: language python: pre-commit installed it (mypy==1.10)",
        "// odd: the `files` regex `foo.*bar` has no glob equivalent",
        "'$${HOME}'",
        "// hook `black` from https://github.com/psf/black at 24.1.0 is not translated",
        "run \"black --check .\"",
        "// hook `check-hooks-apply` (repo: meta)",
        "xargs -0 -r grep -PnHi -e 'TODO|FIXME' --",
        "// hook `many` (language: pygrep) is not translated: `--multiline`",
    ] {
        assert!(gates.contains(expected), "lacks {expected:?}:\n{gates}");
    }
    test.write("gates.kdl", gates.as_bytes());
    test.run(&["check"])
        .status(0)
        .stdout("gates.kdl: 7 gates (0 groups) in 1 file, no problems\n");

    // The translated commands work: the files come from git, as pre-commit's do.
    git(test.root(), &["add", "-A"]);
    test.run(&["run", "words", "no-todo", "check"]).status(0);
    let log = std::fs::read_dir(test.path(".gate/runs/latest")).map(|_| ());
    assert!(log.is_ok());
    test.write("notes.txt", b"not good\n");
    test.write("src/b.txt", b"TODO ok\n");
    git(test.root(), &["add", "-A"]);
    // Under a directory, with the global exclude: git must still list the files.
    test.write("docs/guide/a.md", b"not good\n");
    let failed = test.run(&["run", "words", "guide", "no-todo", "check", "grep", "-v"]);
    failed
        .status(1)
        .stdout_has("docs/guide/a.md lacks ok")
        .stdout_has("failed  grep")
        .stdout_has("src/b.txt:1:TODO ok")
        .stdout_has("failed  words")
        .stdout_has("notes.txt lacks ok")
        .stdout_has("failed  no-todo")
        .stdout_has("passed  check");
    assert!(!failed.stdout.contains("vendor/skip.txt lacks ok"));
}

#[test]
fn import_errors_name_the_place() {
    let test = Test::new()
        .file("bad.yaml", "repos:\n  - repo: local\n    hooks: [\n")
        .file(
            "no-id.yaml",
            "repos:\n  - repo: local\n    hooks:\n      - entry: x\n",
        );
    test.run(&["import", "pre-commit", "bad.yaml"])
        .status(2)
        .stderr_has("error: bad.yaml:3:")
        .stderr_has("hint: ");
    test.run(&["import", "pre-commit", "no-id.yaml"])
        .status(2)
        .stderr_has("no-id.yaml:4:")
        .stderr_has("missing field `id`");
    test.run(&["import", "pre-commit"])
        .status(2)
        .stderr_has("cannot read .pre-commit-config.yaml");
}
