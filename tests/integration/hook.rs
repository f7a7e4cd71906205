//! Issue 5, items 1, 2 and 4: `gate hook`, `gate run --staged`, `gate run --since`. The
//! hook runs under the real `git commit`, with the built gate first on git's PATH.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output as ProcessOutput, Stdio};
use std::time::{Duration, Instant};

use crate::test::Test;

/// A lint that fails on a TODO in any Python file at the root.
const LINT: &str = r#"
gate lint {
    inputs "*.py"
    run "! grep -n TODO *.py"
}
gate docs {
    inputs "*.md"
    run "true"
}
"#;

/// PATH with the built gate first, as a user who installed it would have.
fn path_with_gate() -> String {
    let gate = Path::new(env!("CARGO_BIN_EXE_gate"));
    format!(
        "{}:{}",
        gate.parent().expect("gate is in a directory").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs git in `dir` with a fixed identity and no user or system configuration.
fn git_in(dir: &Path, args: &[&str]) -> ProcessOutput {
    Command::new("git")
        .args([
            "-c",
            "user.name=gate",
            "-c",
            "user.email=gate@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", path_with_gate())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null())
        .output()
        .expect("git runs")
}

fn git(test: &Test, args: &[&str]) -> ProcessOutput {
    git_in(test.root(), args)
}

/// git, which must succeed; its stdout.
#[track_caller]
fn ok(test: &Test, args: &[&str]) -> String {
    let output = git(test, args);
    assert!(
        output.status.success(),
        "git {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `git commit`, with everything it and its hook printed.
fn commit(test: &Test, message: &str) -> (bool, String) {
    let output = git(test, &["commit", "-q", "-m", message]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn commits(test: &Test) -> usize {
    match git(test, &["rev-list", "--count", "HEAD"]) {
        output if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        _ => 0,
    }
}

/// Every file of the working tree (gate's `.gate/` and `.git/` aside) with its bytes and
/// mode, and `.git/index` byte for byte.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    fn walk(dir: &Path, root: &Path, into: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        for entry in std::fs::read_dir(dir).expect("read a directory").flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .expect("under the root")
                .to_path_buf();
            if relative == Path::new(".git") || relative == Path::new(".gate") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                walk(&path, root, into);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                into.insert(relative, (bytes, meta.permissions().mode()));
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, &mut files);
    let index = root.join(".git/index");
    files.insert(
        PathBuf::from(".git/index"),
        (std::fs::read(&index).expect("the index"), 0),
    );
    files
}

/// A repository with `gates` committed and gate's pre-commit hook installed.
fn repository(gates: &str) -> Test {
    let test = Test::new().gates(gates).file("good.py", "x = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.run(&["hook", "install"]).status(0);
    test
}

#[test]
fn a_lint_error_blocks_the_commit_and_a_clean_one_passes() {
    let test = repository(LINT);
    test.write("bad.py", b"y = 2  # TODO\n");
    ok(&test, &["add", "bad.py"]);
    let (passed, printed) = commit(&test, "bad");
    assert!(!passed, "the commit went through:\n{printed}");
    assert!(printed.contains("bad.py:1:y = 2  # TODO"), "{printed}");
    assert_eq!(commits(&test), 1);

    test.write("bad.py", b"y = 2\n");
    ok(&test, &["add", "bad.py"]);
    let (passed, printed) = commit(&test, "fixed");
    assert!(passed, "{printed}");
    assert_eq!(commits(&test), 2);
}

#[test]
fn the_hook_checks_what_is_staged_not_the_working_tree() {
    let test = repository(LINT);
    // Staged good, unstaged bad: passes, and the bad edit is still there, unstaged.
    test.write("good.py", b"x = 2\n");
    ok(&test, &["add", "good.py"]);
    test.write("good.py", b"x = 2  # TODO\n");
    let before = snapshot(test.root());
    let (passed, printed) = commit(&test, "staged good");
    assert!(passed, "{printed}");
    assert_eq!(ok(&test, &["show", "HEAD:good.py"]), "x = 2\n");
    assert_eq!(test.read("good.py"), "x = 2  # TODO\n");
    assert_eq!(ok(&test, &["diff", "--name-only"]), "good.py\n");
    let after = snapshot(test.root());
    assert_eq!(before.len(), after.len());
    for (path, content) in &before {
        if path != Path::new(".git/index") {
            assert_eq!(Some(content), after.get(path), "{} changed", path.display());
        }
    }

    // Staged bad, unstaged good: fails.
    ok(&test, &["add", "good.py"]);
    test.write("good.py", b"x = 3\n");
    let (passed, printed) = commit(&test, "staged bad");
    assert!(!passed, "{printed}");
    assert!(printed.contains("1:x = 2  # TODO"), "{printed}");
    assert_eq!(test.read("good.py"), "x = 3\n");
}

#[test]
fn passing_and_failing_staged_runs_leave_the_tree_and_the_index_as_they_were() {
    let test = Test::new()
        .gates(LINT)
        .file("good.py", "x = 1\n")
        .file("notes.md", "notes\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    // Staged, unstaged and untracked changes all at once.
    test.write("good.py", b"x = 2\n");
    ok(&test, &["add", "good.py"]);
    test.write("good.py", b"x = 2  # TODO unstaged\n");
    test.write("untracked.py", b"# TODO untracked\n");
    test.write("notes.md", b"unstaged notes\n");

    let before = snapshot(test.root());
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  lint")
        .stdout_has("unaffected  docs");
    assert_eq!(
        before,
        snapshot(test.root()),
        "a passing run changed something"
    );

    test.write("bad.py", b"# TODO staged\n");
    ok(&test, &["add", "bad.py"]);
    std::fs::remove_file(test.path("bad.py")).unwrap();
    let before = snapshot(test.root());
    test.run(&["run", "--staged"])
        .status(1)
        .stdout_has("bad.py:1:# TODO staged");
    assert_eq!(
        before,
        snapshot(test.root()),
        "a failing run changed something"
    );
}

/// Files in the temporary directory that belong to the staged run with this pid.
fn checkouts_of(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.starts_with("gate-staged-") && n.contains(&format!("-{pid}-"))
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_interrupted_staged_run_leaves_everything_as_it_was_and_removes_its_checkout() {
    let marks = tempfile::tempdir().unwrap();
    let mark = marks.path().join("started");
    let test = Test::new()
        .gates(
            r#"
gate slow {
    inputs "*.py"
    pass-env "MARK"
    run "touch \"$MARK\"; sleep 30"
}
"#,
        )
        .file("good.py", "x = 1\n")
        .env("MARK", &mark.to_string_lossy());
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("good.py", b"x = 2\n");
    ok(&test, &["add", "good.py"]);
    test.write("good.py", b"x = 3 unstaged\n");
    let before = snapshot(test.root());

    let mut command = test.command(&["run", "--staged"]);
    command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("gate starts");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !mark.exists() {
        assert!(Instant::now() < deadline, "the gate never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The run works in the repository's kept checkout, on the staged content.
    let kept = kept_checkout(&test);
    assert_eq!(
        std::fs::read_to_string(kept.join("tree/good.py")).unwrap(),
        "x = 2\n"
    );
    // SAFETY: a plain signal to the process group the test started.
    let sent = unsafe { libc::killpg(pid as i32, libc::SIGINT) };
    assert_eq!(sent, 0, "SIGINT was not sent");
    let output = child.wait_with_output().expect("gate ends");
    assert_eq!(output.status.code(), Some(130));
    assert_eq!(
        before,
        snapshot(test.root()),
        "an interrupted run changed something"
    );
    assert!(checkouts_of(pid).is_empty(), "a copy was left behind");
}

/// The checkout staged runs of this test's repository keep between runs.
fn kept_checkout(test: &Test) -> PathBuf {
    let top = ok(test, &["rev-parse", "--show-toplevel"]);
    let tag = &blake3::hash(top.trim_end().as_bytes()).to_hex()[..12];
    std::env::temp_dir().join(format!("gate-staged-{tag}-kept"))
}

#[test]
fn a_kept_checkout_path_that_is_a_symlink_is_not_followed() {
    let test = Test::new().gates(LINT).file("good.py", "x = 1\n");
    ok(&test, &["add", "."]);
    // Someone made the predictable name point elsewhere: gate must not write there.
    let decoy = tempfile::tempdir().unwrap();
    let kept = kept_checkout(&test);
    let _ = std::fs::remove_dir_all(&kept);
    std::os::unix::fs::symlink(decoy.path(), &kept).unwrap();
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  lint");
    assert_eq!(std::fs::read_dir(decoy.path()).unwrap().count(), 0);
    std::fs::remove_file(&kept).unwrap();
}

#[test]
fn the_kept_checkout_is_brought_back_to_the_index_whatever_a_run_left_in_it() {
    let test = Test::new()
        .gates(
            r#"
gate mess {
    inputs "*.py"
    run "touch junk.txt; mkdir -p build; touch build/out; echo edited >> a.py; rm -f b.py"
}
gate check {
    inputs "*.py"
    run "test ! -e junk.txt && test ! -e build && grep -qx 'x = 2' a.py && test -f b.py"
}
"#,
        )
        .file("a.py", "x = 1\n")
        .file("b.py", "y = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x = 2\n");
    ok(&test, &["add", "a.py"]);
    // `mess` edits and removes tracked files and creates others in the checkout (and fails
    // for changing its inputs); the next run sees exactly the index again.
    test.run(&["run", "--staged", "mess"]).status(1);
    test.run(&["run", "--staged", "check"])
        .status(0)
        .stdout_has("passed  check");
    // A damaged kept checkout (its index gone) is started over.
    std::fs::remove_file(kept_checkout(&test).join("tree-index")).unwrap();
    std::fs::write(kept_checkout(&test).join("tree/junk.txt"), "junk").unwrap();
    test.run(&["run", "--staged", "check", "--no-cache"])
        .status(0)
        .stdout_has("passed  check");
}

#[test]
fn a_leftover_checkout_of_a_killed_run_is_removed_by_the_next_run() {
    let test = Test::new().gates(LINT).file("good.py", "x = 1\n");
    ok(&test, &["add", "."]);
    test.run(&["run", "--staged"]).status(0);
    // A checkout named as a run of this repository would name it, by a pid that is gone.
    let top = ok(&test, &["rev-parse", "--show-toplevel"]);
    let tag = &blake3::hash(top.trim_end().as_bytes()).to_hex()[..12];
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let leftover = std::env::temp_dir().join(format!("gate-staged-{tag}-{pid}-abcdef"));
    std::fs::create_dir_all(leftover.join("tree")).unwrap();
    test.run(&["run", "--staged"]).status(0);
    assert!(!leftover.exists(), "the leftover checkout is still there");
}

#[test]
fn content_already_checked_is_restored_from_the_cache_at_commit() {
    let test = repository(LINT);
    test.write("more.py", b"z = 3\n");
    ok(&test, &["add", "more.py"]);
    // Checked once on the working tree, where it is the same content.
    test.run(&["run", "lint"])
        .status(0)
        .stdout_has("passed  lint");
    let (passed, printed) = commit(&test, "more");
    assert!(passed, "{printed}");
    assert!(printed.contains("cached  lint"), "{printed}");
    // And a staged run of the same content again.
    test.write("more.py", b"z = 4\n");
    ok(&test, &["add", "more.py"]);
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  lint");
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("cached  lint");
    test.run(&["run", "lint"])
        .status(0)
        .stdout_has("cached  lint");
}

#[test]
fn a_foreign_hook_is_kept_force_backs_it_up_and_uninstall_restores_it() {
    let test = Test::new()
        .gates(LINT)
        .file(".git/hooks/pre-commit", "#!/bin/sh\necho foreign\n");
    let hook = test.path(".git/hooks/pre-commit");
    test.run(&["hook", "install"])
        .status(1)
        .stderr_has("was not written by gate; left alone");
    assert_eq!(
        test.read(".git/hooks/pre-commit"),
        "#!/bin/sh\necho foreign\n"
    );
    test.run(&["hook", "status"])
        .status(0)
        .stdout_has("pre-commit  foreign (not written by gate)");

    test.run(&["hook", "install", "--force", "--target", "lint"])
        .status(0)
        .stdout_has("the previous hook is kept as");
    assert_eq!(
        test.read(".git/hooks/pre-commit.gate-backup"),
        "#!/bin/sh\necho foreign\n"
    );
    let script = test.read(".git/hooks/pre-commit");
    assert!(
        script.contains("# gate-hook 1: pre-commit, target lint"),
        "{script}"
    );
    assert!(script.contains("run --staged 'lint'"), "{script}");
    assert_ne!(
        std::fs::metadata(&hook).unwrap().permissions().mode() & 0o111,
        0
    );
    // Reinstalling the same hook changes nothing.
    test.run(&["hook", "install", "--target", "lint"])
        .status(0)
        .stdout_has("already installed");
    test.run(&["hook", "status"])
        .status(0)
        .stdout_has("pre-commit  gate, target lint")
        .stdout_has("backup kept:");

    test.run(&["hook", "uninstall"])
        .status(0)
        .stdout_has("restored the previous one");
    assert_eq!(
        test.read(".git/hooks/pre-commit"),
        "#!/bin/sh\necho foreign\n"
    );
    assert!(!test.path(".git/hooks/pre-commit.gate-backup").exists());
    test.run(&["hook", "uninstall"])
        .status(1)
        .stderr_has("was not written by gate; left alone");
}

#[test]
fn status_names_the_target_and_install_prefers_fast() {
    let test = Test::new().gates(&format!("{LINT}\ngate fast {{\n    deps lint\n}}\n"));
    test.run(&["hook", "status"])
        .status(0)
        .stdout_has("pre-commit  none\npre-push    none\n");
    test.run(&["hook", "install"]).status(0);
    test.run(&["hook", "install", "--hook", "pre-push", "--target", "docs"])
        .status(0);
    test.run(&["hook", "status"])
        .status(0)
        .stdout_has("pre-commit  gate, target fast\npre-push    gate, target docs\n");
    assert!(
        test.read(".git/hooks/pre-push")
            .contains("\"$gate\" run --commit \"$local_sha\" 'docs' </dev/null || exit 1\n")
    );
    test.run(&["hook", "install", "--target", "nope"])
        .status(2)
        .stderr_has("nope");
    test.run(&["hook", "uninstall", "--hook", "pre-push"])
        .status(0);
    test.run(&["hook", "uninstall"]).status(0);
    test.run(&["hook", "status"])
        .status(0)
        .stdout_has("pre-commit  none\npre-push    none\n");
}

#[test]
fn core_hooks_path_is_honoured() {
    let test = Test::new().gates(LINT).file("good.py", "x = 1\n");
    ok(&test, &["config", "core.hooksPath", "shared-hooks"]);
    test.run(&["hook", "install"]).status(0);
    assert!(test.path("shared-hooks/pre-commit").is_file());
    assert!(!test.path(".git/hooks/pre-commit").exists());
    test.write("bad.py", b"# TODO\n");
    ok(&test, &["add", "gates.kdl", "good.py", "bad.py"]);
    let (passed, printed) = commit(&test, "bad");
    assert!(!passed, "{printed}");
    assert!(printed.contains("bad.py:1:# TODO"), "{printed}");
}

#[test]
fn a_worktree_runs_the_hook_on_its_own_index() {
    let test = repository(LINT);
    let other = tempfile::Builder::new()
        .prefix("gate-wt-")
        .tempdir()
        .unwrap();
    let worktree = other.path().join("wt");
    ok(
        &test,
        &[
            "worktree",
            "add",
            "-q",
            &worktree.to_string_lossy(),
            "-b",
            "side",
        ],
    );
    std::fs::write(worktree.join("bad.py"), "# TODO in the worktree\n").unwrap();
    let added = git_in(&worktree, &["add", "bad.py"]);
    assert!(added.status.success());
    let output = git_in(&worktree, &["commit", "-q", "-m", "bad"]);
    let printed = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{printed}");
    assert!(
        printed.contains("bad.py:1:# TODO in the worktree"),
        "{printed}"
    );
    // The main checkout was not touched, and its hook is the one the worktree used.
    assert!(!test.path("bad.py").exists());
    let hooks = git_in(&worktree, &["rev-parse", "--git-path", "hooks"]);
    let hooks = String::from_utf8_lossy(&hooks.stdout);
    assert!(
        Path::new(hooks.trim()).join("pre-commit").is_file(),
        "{hooks}"
    );
    ok(
        &test,
        &["worktree", "remove", "--force", &worktree.to_string_lossy()],
    );
}

#[test]
fn a_root_in_a_subdirectory_is_checked_from_the_index() {
    let test = Test::new()
        .file("app/gates.kdl", LINT)
        .file("app/good.py", "x = 1\n")
        .file("outside.py", "# TODO outside the root\n")
        .cwd("app");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.run(&["hook", "install"]).status(0);
    assert!(
        test.read(".git/hooks/pre-commit")
            .contains("exec \"$gate\" -f 'app/gates.kdl' run --staged\n")
    );
    test.write("app/bad.py", b"# TODO inside\n");
    ok(&test, &["add", "app/bad.py"]);
    let (passed, printed) = commit(&test, "bad");
    assert!(!passed, "{printed}");
    assert!(printed.contains("bad.py:1:# TODO inside"), "{printed}");
    ok(&test, &["rm", "-q", "--cached", "app/bad.py"]);
    test.write("outside.py", b"# another TODO, outside\n");
    ok(&test, &["add", "outside.py"]);
    let (passed, printed) = commit(&test, "outside");
    assert!(passed, "{printed}");
}

#[test]
fn gates_kdl_comes_from_the_index() {
    let test = Test::new().gates(LINT).file("good.py", "x = 1\n");
    ok(&test, &["add", "."]);
    // An unstaged, broken gates.kdl does not matter; the staged one is used.
    test.write("gates.kdl", b"gate broken {\n");
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  lint");
    test.run(&["run"]).status(2);
    std::fs::remove_file(test.path("gates.kdl")).unwrap();
    ok(&test, &["rm", "-q", "--cached", "gates.kdl"]);
    test.write("gates.kdl", LINT.as_bytes());
    test.run(&["run", "--staged"])
        .status(2)
        .stderr_has("gates.kdl is not in the git index; `git add` it first");
}

#[test]
fn unaffected_gates_are_recorded_and_reported() {
    let test = Test::new()
        .gates(LINT)
        .file("good.py", "x = 1\n")
        .file("notes.md", "notes\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("notes.md", b"more notes\n");
    ok(&test, &["add", "notes.md"]);
    test.run(&["run", "--staged", "--junit", "junit.xml"])
        .status(0)
        .stdout_has("unaffected  lint  nothing it reads changed")
        .stdout_has("1 passed, 1 unaffected");
    let junit = std::fs::read_to_string(test.path("junit.xml")).unwrap();
    std::fs::remove_file(test.path("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped message=\"unaffected: nothing it reads changed\"/>"),
        "{junit}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&test.read(".gate/runs/latest/manifest.json")).unwrap();
    assert_eq!(manifest["schema_version"], 2);
    assert_eq!(manifest["invocation"]["staged"], true);
    assert_eq!(manifest["invocation"]["since"], serde_json::Value::Null);
    assert_eq!(manifest["result"]["gates"]["lint"]["outcome"], "unaffected");
    assert_eq!(manifest["result"]["gates"]["docs"]["outcome"], "passed");
    assert_eq!(manifest["result"]["outcome"], "passed");
    test.run(&["verify"]).status(0);

    // The same run, in the other reports.
    test.run(&["run", "--staged", "--trace", "trace.json"])
        .status(0);
    let trace = std::fs::read_to_string(test.path("trace.json")).unwrap();
    std::fs::remove_file(test.path("trace.json")).unwrap();
    let trace: serde_json::Value = serde_json::from_str(&trace).unwrap();
    let lint = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["args"]["status"] == "unaffected")
        .expect("an event for the unaffected gate");
    assert_eq!(lint["cat"], "unaffected");
    test.run(&["report", "--out", ".gate/page.html"]).status(0);
    let html = test.read(".gate/page.html");
    assert!(html.contains("unaffected"), "the page does not mention it");
    let summary = test.path(".gate/summary.md");
    let test = test
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary.to_string_lossy());
    test.run(&["run", "--staged"]).status(0);
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(summary.contains("| ➖ unaffected | `lint` |"), "{summary}");
}

#[test]
fn staged_outside_a_git_repository_is_refused() {
    let test = Test::new().gates(LINT);
    std::fs::remove_dir_all(test.path(".git")).unwrap();
    test.run(&["run", "--staged"])
        .status(2)
        .stderr_has("--staged: fatal: not a git repository");
    test.run(&["hook", "install"])
        .status(1)
        .stderr_has("not a git repository");
}

const SINCE: &str = r#"
gate build {
    inputs "src"
    run "true"
}
gate test {
    deps build
    inputs "tests"
    run "true"
}
gate docs {
    inputs "docs"
    run "true"
}
gate audit {
    run "true"
}
"#;

#[test]
fn since_runs_what_changed_what_depends_on_it_and_what_declares_no_inputs() {
    let test = Test::new()
        .gates(SINCE)
        .file("src/lib.txt", "1\n")
        .file("tests/t.txt", "1\n")
        .file("docs/d.txt", "1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    let head = ok(&test, &["rev-parse", "HEAD"]);

    test.run(&["run", "--since", "HEAD"])
        .status(0)
        .stdout_has("passed  audit")
        .stdout_has("unaffected  build")
        .stdout_has("unaffected  docs")
        .stdout_has("unaffected  test");

    // A committed-then-edited input: it and its dependent run; docs does not.
    test.write("src/lib.txt", b"2\n");
    let out = test.run(&["run", "--since", "HEAD"]);
    out.status(0)
        .stdout_has("passed  build")
        .stdout_has("passed  test")
        .stdout_has("unaffected  docs");
    let manifest: serde_json::Value =
        serde_json::from_str(&test.read(".gate/runs/latest/manifest.json")).unwrap();
    assert_eq!(manifest["invocation"]["since"]["rev"], "HEAD");
    assert_eq!(manifest["invocation"]["since"]["commit"], head.trim());
    assert_eq!(manifest["invocation"]["staged"], false);

    // An untracked file counts; a test-only change does not rerun the build's dependents'
    // dependencies beyond what they need.
    ok(&test, &["checkout", "-q", "--", "src/lib.txt"]);
    test.write("docs/new.txt", b"new\n");
    test.write("tests/t.txt", b"2\n");
    test.run(&["run", "--since", "HEAD"])
        .status(0)
        .stdout_has("passed  docs")
        .stdout_has("passed  test")
        // `test` needs `build`'s key and outputs: it takes part, restored or run.
        .stdout_has("  build");
}

#[test]
fn since_with_a_bad_revision_or_with_staged_is_refused() {
    let test = Test::new().gates(SINCE);
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.run(&["run", "--since", "no-such-branch"])
        .status(2)
        .stderr_has("--since no-such-branch: fatal: bad revision 'no-such-branch'");
    test.run(&["run", "--since", "HEAD", "--staged"])
        .status(2)
        .stderr_has("cannot be used with");
    test.run(&["run", "--apply-fixes"])
        .status(2)
        .stderr_has("--staged");
}

#[test]
fn files_given_on_the_command_line_are_the_changed_set() {
    let test = Test::new()
        .gates(SINCE)
        .file("src/lib.txt", "1\n")
        .file("tests/t.txt", "1\n")
        .file("docs/d.txt", "1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);

    // Nothing given: nothing changed, only what declares no inputs runs.
    test.run(&["run", "--files"])
        .status(0)
        .stdout_has("passed  audit")
        .stdout_has("unaffected  build")
        .stdout_has("unaffected  docs");

    // A path from a subdirectory, `..` included; one outside the root changes nothing.
    let sub = test.cwd("docs");
    sub.run(&["run", "--files", "../tests/t.txt", "../../elsewhere.txt"])
        .status(0)
        .stdout_has("passed  test")
        .stdout_has("unaffected  docs");

    // With --staged: the given paths, not what git says is staged (nothing is).
    sub.run(&["run", "--staged", "--files", "d.txt"])
        .status(0)
        .stdout_has("passed  docs")
        .stdout_has("unaffected  build")
        .stdout_has("unaffected  test");
    sub.run(&["run", "--staged"])
        .status(0)
        .stdout_has("unaffected  docs");

    sub.run(&["run", "--since", "HEAD", "--files", "d.txt"])
        .status(2)
        .stderr_has("cannot be used with");
}

const FIX: &str = r#"
gate format {
    fix #true
    inputs "*.py"
    run "sed -i 's/  *= */ = /' *.py"
}
"#;

#[test]
fn a_fix_in_a_staged_run_prints_its_diff_and_writes_nothing() {
    let test = Test::new().gates(FIX).file("a.py", "x = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x   =   2\n");
    ok(&test, &["add", "a.py"]);
    let before = snapshot(test.root());
    test.run(&["run", "--staged"])
        .status(1)
        .stdout_has("-x   =   2\n+x = 2\n")
        .stderr_has("fixes: 1 file would change a.py; nothing was written");
    assert_eq!(before, snapshot(test.root()));
}

#[test]
fn apply_fixes_writes_the_working_tree_without_staging() {
    let test = Test::new().gates(FIX).file("a.py", "x = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x   =   2\n");
    ok(&test, &["add", "a.py"]);
    test.run(&["run", "--staged", "--apply-fixes"])
        .status(1)
        .stderr_has("fixes: applied to 1 file in the working tree (a.py); they are not staged");
    assert_eq!(test.read("a.py"), "x = 2\n");
    assert_eq!(ok(&test, &["show", ":a.py"]), "x   =   2\n");
    // Staged as fixed: nothing left to fix, the run passes.
    ok(&test, &["add", "a.py"]);
    test.run(&["run", "--staged", "--apply-fixes"]).status(0);
}

#[test]
fn apply_fixes_refuses_files_with_unstaged_changes() {
    let test = Test::new().gates(FIX).file("a.py", "x = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x   =   2\n");
    ok(&test, &["add", "a.py"]);
    test.write("a.py", b"x   =   3  # unstaged work\n");
    let before = snapshot(test.root());
    test.run(&["run", "--staged", "--apply-fixes"])
        .status(1)
        .stdout_has("+x = 2\n")
        .stderr_has(
            "fixes not applied: this file has unstaged changes that the fix would overwrite: a.py",
        );
    assert_eq!(before, snapshot(test.root()));
}

#[test]
fn the_pre_push_hook_runs_the_target_on_each_pushed_commit() {
    let test = repository(LINT);
    let remote = tempfile::Builder::new()
        .prefix("gate-remote-")
        .tempdir()
        .unwrap();
    let status = git_in(remote.path(), &["init", "-q", "--bare"]);
    assert!(status.status.success());
    ok(
        &test,
        &["remote", "add", "origin", &remote.path().to_string_lossy()],
    );
    test.run(&["hook", "install", "--hook", "pre-push", "--target", "lint"])
        .status(0);
    // A bad commit made past the pre-commit hook is stopped at the push.
    test.write("bad.py", b"# TODO pushed\n");
    ok(&test, &["add", "bad.py"]);
    ok(&test, &["commit", "-q", "--no-verify", "-m", "bad"]);
    let pushed = git(&test, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let printed = String::from_utf8_lossy(&pushed.stderr).into_owned()
        + &String::from_utf8_lossy(&pushed.stdout);
    assert!(!pushed.status.success(), "{printed}");
    assert!(printed.contains("bad.py:1:# TODO pushed"), "{printed}");
    // The fix only in the working tree does not make the pushed commit good.
    test.write("bad.py", b"# fine\n");
    let pushed = git(&test, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    assert!(
        !pushed.status.success(),
        "a fix that is not committed let a bad commit through"
    );
    ok(&test, &["commit", "-q", "-a", "-m", "fixed"]);
    // A good commit is pushed even when the working tree has a bad edit.
    test.write("bad.py", b"# TODO not committed\n");
    ok(&test, &["push", "-q", "origin", "HEAD:refs/heads/main"]);
    let before = snapshot(test.root());
    // Deleting a remote branch checks nothing.
    ok(&test, &["push", "-q", "origin", "HEAD:refs/heads/other"]);
    ok(&test, &["push", "-q", "origin", "--delete", "other"]);
    assert_eq!(before, snapshot(test.root()), "the push changed the tree");
    let manifest: serde_json::Value =
        serde_json::from_str(&test.read(".gate/runs/latest/manifest.json")).unwrap();
    let head = ok(&test, &["rev-parse", "HEAD"]);
    assert_eq!(manifest["invocation"]["commit"]["commit"], head.trim());
    assert_eq!(manifest["source"]["git"]["commit"], head.trim());
    assert_eq!(manifest["source"]["git"]["dirty"], false);
}

#[test]
fn a_commit_run_checks_that_commits_tree_and_refuses_a_bad_revision() {
    let test = repository(LINT);
    test.write("bad.py", b"# TODO one\n");
    ok(&test, &["add", "bad.py"]);
    ok(&test, &["commit", "-q", "--no-verify", "-m", "bad"]);
    test.write("bad.py", b"# fine\n");
    ok(&test, &["add", "bad.py"]);
    ok(&test, &["commit", "-q", "--no-verify", "-m", "good"]);
    test.write("bad.py", b"# TODO unstaged\n");
    let before = snapshot(test.root());
    test.run(&["run", "--commit", "HEAD~1", "lint"])
        .status(1)
        .stdout_has("# TODO one");
    test.run(&["run", "--commit", "HEAD", "lint"])
        .status(0)
        .stdout_has("passed  lint");
    // The same content again: restored from the cache, as for any run.
    test.run(&["run", "--commit", "HEAD", "lint"])
        .status(0)
        .stdout_has("cached  lint");
    assert_eq!(before, snapshot(test.root()));
    test.run(&["run", "--commit", "no-such-rev"])
        .status(2)
        .stderr_has("--commit no-such-rev:");
    test.run(&["run", "--commit", "HEAD", "--staged"])
        .status(2)
        .stderr_has("cannot be used with");
}

#[test]
fn a_staged_run_shares_gate_cache_dir_with_normal_runs() {
    let shared = tempfile::Builder::new()
        .prefix("gate-shared-cache-")
        .tempdir()
        .unwrap();
    let test = Test::new()
        .gates(LINT)
        .file("good.py", "x = 1\n")
        .env("GATE_CACHE_DIR", &shared.path().to_string_lossy());
    ok(&test, &["add", "."]);
    test.run(&["run", "--staged", "lint"])
        .status(0)
        .stdout_has("passed  lint");
    assert!(
        !test.path(".gate/cache").exists(),
        "the default cache was used"
    );
    assert!(
        std::fs::read_dir(shared.path()).unwrap().count() > 0,
        "nothing was stored in GATE_CACHE_DIR"
    );
    test.run(&["run", "lint"])
        .status(0)
        .stdout_has("cached  lint");
}

#[test]
fn a_skipped_gate_whose_inputs_changed_still_says_why() {
    let test = Test::new()
        .gates(
            r#"
gate tool {
    requires "no-such-tool-anywhere"
    inputs "*.py"
    run "no-such-tool-anywhere"
}
gate docs {
    inputs "*.md"
    run "true"
}
"#,
        )
        .file("a.py", "x = 1\n")
        .file("a.md", "a\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x = 2\n");
    test.run(&["run", "--since", "HEAD"])
        .status(0)
        .stdout_has("skipped  tool  missing tool no-such-tool-anywhere")
        .stdout_has("unaffected  docs");
    test.run(&["run", "--since", "HEAD", "--strict"]).status(1);
}

#[test]
fn a_staged_run_with_outputs_verifies_and_restores_them_in_its_checkout() {
    let test = Test::new()
        .gates(
            r#"
gate build {
    inputs "*.py"
    outputs "out.txt"
    run "cat *.py > out.txt"
}
gate check {
    deps build
    inputs "out.txt"
    run "grep -q 'x = 2' out.txt"
}
"#,
        )
        .file("a.py", "x = 1\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    test.write("a.py", b"x = 2\n");
    ok(&test, &["add", "a.py"]);
    test.write("a.py", b"x = 3\n");
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  build")
        .stdout_has("passed  check");
    assert!(
        !test.path("out.txt").exists(),
        "an output was written to the working tree"
    );
    test.run(&["verify"])
        .status(0)
        .stdout_has("not on disk to check");
    // Again: build is restored into the new checkout, where check finds its output.
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("cached  build")
        .stdout_has("cached  check");
}

#[test]
fn ctrl_c_while_the_index_is_copied_changes_nothing_and_the_next_run_recovers() {
    let tools = tempfile::tempdir().unwrap();
    let mark = tools.path().join("copying");
    let hang = tools.path().join("hang");
    std::fs::write(&hang, "").unwrap();
    let real_git = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // A git whose checkout-index and read-tree hang until interrupted, while `hang` exists.
    let wrapper = tools.path().join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ -e '{}' ]; then case \" $* \" in *\" checkout-index \"*|*\" read-tree \"*) touch '{}'; sleep 30;; esac; fi\nexec '{}' \"$@\"\n",
            hang.display(),
            mark.display(),
            real_git.trim()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let test = Test::new()
        .gates(LINT)
        .file("good.py", "x = 1\n")
        .env("PATH", &path);
    ok(&test, &["add", "."]);
    let before = snapshot(test.root());
    let mut command = test.command(&["run", "--staged"]);
    command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().expect("gate starts");
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !mark.exists() {
        assert!(Instant::now() < deadline, "the copy never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a plain signal to the process group the test started.
    assert_eq!(unsafe { libc::killpg(pid as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().expect("gate ends");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(checkouts_of(pid).is_empty(), "the copy was left behind");
    assert_eq!(before, snapshot(test.root()));
    // The next run brings the interrupted checkout to the index and passes.
    std::fs::remove_file(&hang).unwrap();
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  lint");
}

#[test]
fn staged_deletions_and_both_sides_of_renames_count() {
    let test = Test::new()
        .gates(LINT)
        .file("good.py", "x = 1\n")
        .file("notes.md", "notes\n")
        .file("more.md", "more\n");
    ok(&test, &["add", "."]);
    ok(&test, &["commit", "-q", "-m", "start"]);
    ok(&test, &["rm", "-q", "notes.md"]);
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  docs")
        .stdout_has("unaffected  lint");
    ok(&test, &["commit", "-q", "--no-verify", "-m", "rm"]);
    // A rename from one gate's inputs to another's touches both.
    ok(&test, &["mv", "more.md", "more.py"]);
    test.run(&["run", "--staged"])
        .status(0)
        .stdout_has("passed  docs")
        .stdout_has("passed  lint");
}

#[test]
fn git_commit_with_paths_is_checked_on_what_it_commits() {
    let test = repository(LINT);
    // bad.py is staged but not part of `git commit good.py`: git gives the hook an index of
    // HEAD plus good.py (GIT_INDEX_FILE), and that is what is checked.
    test.write("bad.py", b"# TODO staged, not committed\n");
    ok(&test, &["add", "bad.py"]);
    test.write("good.py", b"x = 5\n");
    let output = git(&test, &["commit", "-q", "-m", "only good", "good.py"]);
    let printed = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}");
    assert_eq!(ok(&test, &["show", "HEAD:good.py"]), "x = 5\n");
    assert_eq!(ok(&test, &["diff", "--cached", "--name-only"]), "bad.py\n");
    // And `git commit -a` includes the bad file: stopped.
    let (passed, printed) = {
        let output = git(&test, &["commit", "-q", "-a", "-m", "all"]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned()
                + &String::from_utf8_lossy(&output.stdout),
        )
    };
    assert!(!passed, "{printed}");
    assert!(printed.contains("TODO staged, not committed"), "{printed}");
}
