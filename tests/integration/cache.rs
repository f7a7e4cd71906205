//! The result cache: what the key is made of, hits and misses, restored outputs, damaged
//! state, a cache shared by concurrent processes, `gate explain`, `--dry-run`, `-v` and the
//! `gate cache` commands. Every test counts how often a gate really ran with an append-only
//! marker under `runs/`, which `.gitignore` keeps out of every glob.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime};

use crate::test::{Output, Test, redact};

/// Ignores the run counters, so no glob ever sees them.
const GITIGNORE: &str = "runs/\n";

/// A shell line that records one real run of `gate`; it works from any `cwd` (gates run with
/// `HOME` set to the test's root, a path without spaces or quotes).
fn mark(gate: &str) -> String {
    format!("mkdir -p $HOME/runs && echo x >> $HOME/runs/{gate}")
}

/// How many times `gate` really ran.
fn runs(test: &Test, gate: &str) -> usize {
    std::fs::read_to_string(test.path(&format!("runs/{gate}")))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

/// The whole output of a run of one gate.
fn alone(word: &str, gate: &str) -> String {
    format!("{word:>10}  {gate}  [T]\n\ngate: 1 {word} in [T]\n")
}

/// stdout without the `slowest:` line, which is ordered by durations no test can predict.
fn shown(output: &Output) -> String {
    output
        .stdout
        .lines()
        .filter(|line| !line.starts_with("slowest: "))
        .map(|line| format!("{line}\n"))
        .collect()
}

const WORDS: [&str; 7] = [
    "passed",
    "cached",
    "failed",
    "skipped",
    "blocked",
    "timed-out",
    "cancelled",
];

/// Each gate's status word, from its status line.
pub(crate) fn statuses(output: &Output) -> BTreeMap<String, String> {
    output
        .stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let word = words.next()?;
            let gate = words.next()?;
            WORDS
                .contains(&word)
                .then(|| (gate.to_owned(), word.to_owned()))
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(gate, word)| ((*gate).to_owned(), (*word).to_owned()))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn mtime(path: &Path) -> SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
}

/// 2001-09-09: a time no test run can produce.
fn long_ago() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
}

fn set_mtime(path: &Path, time: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .unwrap_or_else(|e| panic!("set the mtime of {}: {e}", path.display()));
}

fn remove(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
    .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
}

/// Every regular file under `dir` (relative, sorted) with its bytes and permission bits.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(names) = std::fs::read_dir(&at) else {
            continue;
        };
        for name in names.flatten() {
            let path = name.path();
            let kind = name.file_type().expect("a file type");
            if kind.is_dir() {
                stack.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("under the directory")
                    .to_string_lossy()
                    .into_owned();
                let bytes = std::fs::read(&path).expect("read an output");
                files.insert(relative, (bytes, mode(&path)));
            }
        }
    }
    files
}

/// Every regular file under `dir`, sorted.
/// The regular files under `dir`, recursively (symlinks such as `.gate/runs/latest` are not
/// followed: what they point at is listed where it is).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for name in std::fs::read_dir(&at).expect("read a directory").flatten() {
            let path = name.path();
            let kind = name.file_type().expect("a file type");
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A spawned gate's output once it has exited.
fn finish(child: Child) -> Output {
    let output = child.wait_with_output().expect("gate exits");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: redact(&String::from_utf8_lossy(&output.stdout)),
        stderr: redact(&String::from_utf8_lossy(&output.stderr)),
    }
}

/// The `key:` line of `gate explain`.
fn explained_key(output: &Output) -> String {
    output
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("  key: "))
        .unwrap_or_else(|| panic!("no key line in\n{}", output.stdout))
        .to_owned()
}

// 1. Hits and misses on the inputs.

#[test]
fn an_unchanged_gate_is_cached_and_every_change_to_its_inputs_reruns_it() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "lint" {{ inputs "src/**"; run "{}" }}"#,
            mark("lint")
        ))
        .file("src/a.txt", "one\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 1, "a hit runs nothing");

    // New content.
    test.write("src/a.txt", b"two\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 2);

    // The executable bit, content unchanged.
    chmod(&test.path("src/a.txt"), 0o755);
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 3);

    // A new file matching the glob.
    test.write("src/b.txt", b"bee\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 4);

    // The same content under another path.
    std::fs::create_dir_all(test.path("src/sub")).expect("mkdir");
    std::fs::rename(test.path("src/b.txt"), test.path("src/sub/b.txt")).expect("rename");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    assert_eq!(runs(&test, "lint"), 5);

    // A deleted file.
    remove(&test.path("src/a.txt"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "lint"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 6);

    // Back to a state seen before: its entry is still there.
    std::fs::rename(test.path("src/sub/b.txt"), test.path("src/b.txt")).expect("rename");
    test.write("src/a.txt", b"two\n");
    chmod(&test.path("src/a.txt"), 0o755);
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "lint"));
    assert_eq!(runs(&test, "lint"), 6);
}

#[test]
fn a_file_rewritten_at_once_with_the_same_size_is_noticed() {
    let test = Test::new().file(".gitignore", GITIGNORE).gates(&format!(
        r#"gate "copy" {{ inputs "src/**"; outputs "out.txt"; run "{}" "cp src/a.txt out.txt" }}"#,
        mark("copy")
    ));
    // Each rewrite happens in the second the file was hashed in, with the same length.
    for (round, text) in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"]
        .iter()
        .enumerate()
    {
        test.write("src/a.txt", text.as_bytes());
        test.run(&["run"])
            .status(0)
            .stdout(&alone("passed", "copy"));
        assert_eq!(test.read("out.txt"), *text, "round {round}");
        assert_eq!(runs(&test, "copy"), round + 1);
    }
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "copy"));
}

#[test]
fn new_content_under_an_old_mtime_is_noticed() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "copy" {{ inputs "src/**"; outputs "out.txt"; run "{}" "cp src/a.txt out.txt" }}"#,
            mark("copy")
        ))
        .file("src/a.txt", "aaaa\n");
    set_mtime(&test.path("src/a.txt"), long_ago());
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "copy"));
    // Same inode, size and mtime (as `cp -p` or `rsync -t` leave it); only the ctime moved.
    test.write("src/a.txt", b"bbbb\n");
    set_mtime(&test.path("src/a.txt"), long_ago());
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "copy"));
    assert_eq!(test.read("out.txt"), "bbbb\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "copy"));
}

// 2. Every kind of key change.

#[test]
fn every_part_of_the_declaration_is_in_the_key() {
    let gates = |top: &str, body: &str| {
        format!(
            "env MODE=\"a\"\n{top}\ngate \"other\" {{ run \"true\" }}\ngate \"g\" {{\n    inputs \"src/**\"\n    run \"{}\"\n    {body}\n}}\n",
            mark("g")
        )
    };
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .file("src/a.txt", "a\n")
        .file("sub/keep", "")
        .file("ver.txt", "1.0\n")
        .gates(&gates("", ""));
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("passed", "g"));
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("cached", "g"));
    let variants = [
        ("a second run line", "", r#"run "true""#),
        ("the global env", r#"env MODE="b""#, ""),
        ("a gate env", "", r#"env OWN="1""#),
        ("a gate env value", "", r#"env OWN="2""#),
        (
            "a gate env overriding the global one",
            "",
            r#"env MODE="c""#,
        ),
        ("the shell", "", r#"shell "sh" "-eu" "-c""#),
        ("the cwd", "", r#"cwd "sub""#),
        ("an outputs declaration", "", r#"outputs "out.txt""#),
        ("another input glob", "", r#"inputs "ver.txt""#),
        ("a hash-env declaration", "", r#"hash-env "NOT_SET""#),
        ("a required tool", "", r#"requires "sh""#),
        (
            "a version command",
            "",
            r#"requires "sh"; version "cat ver.txt""#,
        ),
        ("a dependency", "", r#"deps "other""#),
    ];
    for (count, (what, top, body)) in variants.iter().enumerate() {
        test.write("gates.kdl", gates(top, body).as_bytes());
        let output = test.run(&["run", "g"]);
        output.status(0);
        assert_eq!(statuses(&output)["g"], "passed", "{what}");
        assert_eq!(runs(&test, "g"), count + 2, "{what} must change the key");
        let output = test.run(&["run", "g"]);
        output.status(0);
        assert_eq!(statuses(&output)["g"], "cached", "{what}");
        assert_eq!(
            runs(&test, "g"),
            count + 2,
            "{what}: the second run is a hit"
        );
    }
    // The version command's output is part of the tool's identity.
    let last = variants.len() + 1;
    let versioned = r#"requires "sh"; version "cat ver.txt""#;
    test.write("gates.kdl", gates("", versioned).as_bytes());
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("cached", "g"));
    test.write("ver.txt", b"2.0\n");
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("passed", "g"));
    assert_eq!(
        runs(&test, "g"),
        last + 1,
        "a new tool version changes the key"
    );

    // What is not in the key: description, tags, timeout.
    test.write(
        "gates.kdl",
        gates(
            "",
            &format!(r#"{versioned}; description "d"; tags "t"; timeout "5m""#),
        )
        .as_bytes(),
    );
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("cached", "g"));
    // Back to the first declaration: its entry is still there.
    test.write("gates.kdl", gates("", "").as_bytes());
    test.run(&["run", "g"])
        .status(0)
        .stdout(&alone("cached", "g"));
    assert_eq!(runs(&test, "g"), last + 1);
}

#[test]
fn a_required_tool_is_identified_by_its_content() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "check" {{ requires "tools/check.sh"; inputs "src/**"; run "{}" "tools/check.sh" }}"#,
            mark("check")
        ))
        .file("src/a.txt", "a\n")
        .file("tools/check.sh", "#!/bin/sh\nexit 0\n");
    chmod(&test.path("tools/check.sh"), 0o755);
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "check"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "check"));
    test.write("tools/check.sh", b"#!/bin/sh\ntrue\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "check"));
    assert_eq!(runs(&test, "check"), 2);
}

#[test]
fn hash_env_values_are_in_the_key_and_pass_env_values_are_not() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "g" {{ inputs "src/**"; hash-env "HASHED"; pass-env "PASSED"; run "{}" }}"#,
            mark("g")
        ))
        .file("src/a.txt", "a\n")
        .env("HASHED", "one")
        .env("PASSED", "one");
    test.run(&["run"]).status(0).stdout(&alone("passed", "g"));
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));

    let test = test.env("PASSED", "two");
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));
    assert_eq!(runs(&test, "g"), 1, "pass-env is not part of the key");

    let test = test.env("HASHED", "two");
    test.run(&["run"]).status(0).stdout(&alone("passed", "g"));
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));
    assert_eq!(runs(&test, "g"), 2, "hash-env is part of the key");

    let test = test.env("HASHED", "");
    test.run(&["run"]).status(0).stdout(&alone("passed", "g"));
    assert_eq!(runs(&test, "g"), 3, "empty is a value too");

    let test = test.env("HASHED", "one");
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));
    assert_eq!(runs(&test, "g"), 3);
}

#[test]
fn a_dependency_key_change_reruns_its_dependents() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "base" {{ inputs "base/**"; run "{}" }}
            gate "middle" {{ deps "base"; inputs "middle/**"; run "{}" }}
            gate "top" {{ deps "middle"; inputs "top/**"; run "{}" }}
            gate "group" {{ deps "middle" }}
            gate "after" {{ deps "group"; inputs "top/**"; run "{}" }}
            "#,
            mark("base"),
            mark("middle"),
            mark("top"),
            mark("after")
        ))
        .file("base/a.txt", "a\n")
        .file("middle/a.txt", "a\n")
        .file("top/a.txt", "a\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("after", "passed"),
            ("base", "passed"),
            ("group", "passed"),
            ("middle", "passed"),
            ("top", "passed"),
        ])
    );
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("after", "cached"),
            ("base", "cached"),
            ("group", "passed"),
            ("middle", "cached"),
            ("top", "cached"),
        ])
    );

    // Only base's own input changes: everything downstream reruns, through the group too.
    test.write("base/a.txt", b"b\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("after", "passed"),
            ("base", "passed"),
            ("group", "passed"),
            ("middle", "passed"),
            ("top", "passed"),
        ])
    );
    for gate in ["base", "middle", "top", "after"] {
        assert_eq!(runs(&test, gate), 2, "{gate}");
    }

    // A change in the middle leaves what is upstream cached.
    test.write("middle/a.txt", b"b\n");
    let output = test.run(&["run", "-j", "1"]);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("after", "passed"),
            ("base", "cached"),
            ("group", "passed"),
            ("middle", "passed"),
            ("top", "passed"),
        ])
    );
}

#[test]
fn a_var_override_that_changes_a_run_line_is_a_miss() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            vars {{ greeting "hello"; unused "x" }}
            gate "say" {{ inputs "src/**"; outputs "said.txt"; run "{}" "echo ${{greeting}} > said.txt" }}
            "#,
            mark("say")
        ))
        .file("src/a.txt", "a\n");
    test.run(&["run"]).status(0).stdout(&alone("passed", "say"));
    test.run(&["run", "--var", "greeting=bye"])
        .status(0)
        .stdout(&alone("passed", "say"));
    assert_eq!(test.read("said.txt"), "bye\n");
    test.run(&["run", "--var", "greeting=bye"])
        .status(0)
        .stdout(&alone("cached", "say"));
    // A variable no line uses changes nothing.
    test.run(&["run", "--var", "unused=y"])
        .status(0)
        .stdout(&alone("cached", "say"));
    assert_eq!(test.read("said.txt"), "hello\n", "restored for the key");
    assert_eq!(runs(&test, "say"), 2);
}

// 3. Which files are inputs.

#[test]
fn excluded_and_ignored_files_are_not_inputs_but_literal_paths_are() {
    let test = Test::new()
        .file(".gitignore", "runs/\n*.log\nlocal.env\n")
        .gates(&format!(
            r#"gate "test" {{ inputs "src/**" "tests/**" "!tests/fixtures/**" "local.env"; run "{}" }}"#,
            mark("test")
        ))
        .file("src/a.py", "a\n")
        .file("tests/test_a.py", "t\n")
        .file("tests/fixtures/big/data.bin", "fixture\n")
        .file("src/debug.log", "noise\n")
        .file("local.env", "KEY=1\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "test"));

    test.write("tests/fixtures/big/data.bin", b"other fixture\n");
    test.write("tests/fixtures/new.bin", b"new\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "test"));

    test.write("src/debug.log", b"more noise\n");
    test.write("src/other.log", b"new noise\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "test"));
    assert_eq!(runs(&test, "test"), 1);

    // Ignored, but named literally: an input.
    test.write("local.env", b"KEY=2\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "test"));
    assert_eq!(runs(&test, "test"), 2);

    test.write("tests/test_a.py", b"t2\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "test"));
    assert_eq!(runs(&test, "test"), 3);
}

#[test]
fn state_and_git_files_are_never_inputs() {
    let test = Test::new()
        .file(".gitignore", "runs/\nbuild/\n")
        .gates(&format!(
            r#"gate "all" {{ inputs "**"; outputs "build/out.txt"; run "{}" "mkdir -p build && echo out > build/out.txt" }}"#,
            mark("all")
        ))
        .file("a.txt", "a\n");
    test.run(&["run"]).status(0).stdout(&alone("passed", "all"));
    // The run wrote logs, keys, the stat cache and the cache; git wrote its index.
    std::process::Command::new("git")
        .args(["add", "-A"])
        .current_dir(test.root())
        .status()
        .expect("git add");
    test.run(&["run"]).status(0).stdout(&alone("cached", "all"));
    assert_eq!(runs(&test, "all"), 1);
}

#[test]
fn a_gates_own_outputs_are_not_its_inputs() {
    // A report that differs on every run (it holds the shell's pid), written where the
    // gate's own glob looks, not ignored.
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "report" {{ inputs "**"; outputs "report.txt"; run "{}" "echo $$ > report.txt" }}"#,
            mark("report")
        ))
        .file("src/a.txt", "a\n");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "report"));
    let first = test.read("report.txt");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "report"));
    assert_eq!(test.read("report.txt"), first);
    assert_eq!(runs(&test, "report"), 1);
}

#[test]
fn files_under_another_gates_outputs_are_inputs_even_when_ignored() {
    let test = Test::new()
        .file(".gitignore", "runs/\nbuild/\n")
        .gates(&format!(
            r#"
            gate "gen" {{ inputs "spec.txt"; outputs "build/gen"; run "{}" "mkdir -p build/gen && cp spec.txt build/gen/code.txt" }}
            gate "use" {{ deps "gen"; inputs "build/**/*.txt"; outputs "used.out"; run "{}" "cp build/gen/code.txt used.out" }}
            gate "glob" {{ deps "gen"; inputs "**/*.txt" "!spec.txt"; run "{}" }}
            "#,
            mark("gen"),
            mark("use"),
            mark("glob")
        ))
        .file("spec.txt", "v1\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[("gen", "passed"), ("glob", "passed"), ("use", "passed")])
    );
    let explained = test.run(&["explain", "use"]);
    explained
        .status(0)
        .stdout_has("use: would be restored from the cache\n")
        .stdout_has("  inputs: 1 file (3 bytes)\n");
    let explained = test.run(&["explain", "glob"]);
    explained
        .status(0)
        .stdout_has("glob: would be restored from the cache\n")
        .stdout_has("  inputs: 1 file (3 bytes)\n");

    // Generated output removed: restored from the cache before its readers are keyed.
    remove(&test.path("build"));
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[("gen", "cached"), ("glob", "cached"), ("use", "cached")])
    );
    assert_eq!(test.read("build/gen/code.txt"), "v1\n");

    test.write("spec.txt", b"v2\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[("gen", "passed"), ("glob", "passed"), ("use", "passed")])
    );
    assert_eq!(test.read("used.out"), "v2\n");
}

#[test]
fn a_generated_input_is_keyed_on_what_its_producer_just_wrote() {
    // `gen` always runs (no inputs) and its dependency key never changes: only the content of
    // what it writes can tell `use` to rerun.
    for ignored in [true, false] {
        let ignore = if ignored {
            "runs/\nbuild/\n"
        } else {
            GITIGNORE
        };
        let test = Test::new()
            .file(".gitignore", ignore)
            .gates(&format!(
                r#"
                gate "gen" {{ outputs "build/out.txt"; run "{}" "mkdir -p build && cp stamp build/out.txt" }}
                gate "use" {{ deps "gen"; inputs "build/**"; outputs "used.txt"; run "{}" "cp build/out.txt used.txt" }}
                "#,
                mark("gen"),
                mark("use")
            ))
            .file("stamp", "one\n");
        test.run(&["run", "use", "-j", "1"]).status(0);
        test.run(&["run", "use", "-j", "1"])
            .status(0)
            .stdout_has("    cached  use  [T]\n");
        assert_eq!(runs(&test, "use"), 1, "ignored: {ignored}");

        test.write("stamp", b"two\n");
        test.run(&["run", "use", "-j", "1"])
            .status(0)
            .stdout_has("    passed  use  [T]\n");
        assert_eq!(test.read("used.txt"), "two\n", "ignored: {ignored}");
        assert_eq!(runs(&test, "gen"), 3);
        assert_eq!(runs(&test, "use"), 2, "ignored: {ignored}");
    }
}

// 4. Outputs.

const BUILD: &str = r#"
gate "build" {
    inputs "src/**"
    outputs "out/tool.sh" "out/secret" "out/dir" "out/*.txt"
    run "mkdir -p out/dir/deep"
    run "cp src/tool.sh out/tool.sh && chmod 755 out/tool.sh"
    run "cp src/blob.bin out/secret && chmod 600 out/secret"
    run "echo a > out/dir/a && : > out/dir/deep/empty && cp src/blob.bin out/dir/same"
    run "echo x > out/x.txt && echo y > out/y.txt && echo undeclared > out/undeclared.log"
    run "mkdir -p runs && echo x >> runs/build"
}
"#;

/// Every byte value, so nothing is lost to a text conversion.
fn binary() -> Vec<u8> {
    (0..=255u8).chain((0..=255u8).rev()).collect()
}

fn build_test() -> Test {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(BUILD)
        .file("src/tool.sh", "#!/bin/sh\necho tool\n");
    test.write("src/blob.bin", &binary());
    test
}

#[test]
fn outputs_are_restored_byte_for_byte_with_their_modes() {
    let test = build_test();
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "build"));
    let mut produced = snapshot(&test.path("out"));
    assert_eq!(produced["tool.sh"].1, 0o755);
    assert_eq!(produced["secret"].1, 0o600);
    assert_eq!(produced["secret"].0, binary());
    assert_eq!(produced["dir/deep/empty"].0, b"");
    produced.remove("undeclared.log");

    remove(&test.path("out"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "build"));
    assert_eq!(runs(&test, "build"), 1);
    assert_eq!(snapshot(&test.path("out")), produced, "not undeclared.log");

    // Again from a cache hit, with some outputs damaged on disk.
    test.write("out/y.txt", b"edited\n");
    chmod(&test.path("out/tool.sh"), 0o644);
    chmod(&test.path("out/secret"), 0o644);
    remove(&test.path("out/dir/deep"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "build"));
    assert_eq!(snapshot(&test.path("out")), produced);
    assert_eq!(runs(&test, "build"), 1);
}

#[test]
fn an_output_already_right_on_disk_is_left_alone() {
    let test = build_test();
    test.run(&["run"]).status(0);
    for path in ["out/x.txt", "out/secret", "out/dir/a"] {
        set_mtime(&test.path(path), long_ago());
    }
    remove(&test.path("out/y.txt"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "build"));
    assert_eq!(test.read("out/y.txt"), "y\n");
    for path in ["out/x.txt", "out/secret", "out/dir/a"] {
        assert_eq!(mtime(&test.path(path)), long_ago(), "{path} was rewritten");
    }
}

// 5. What is never cached.

#[test]
fn a_failure_is_not_cached() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "flaky" {{ inputs "src/**"; run "{}" "test -e go" }}"#,
            mark("flaky")
        ))
        .file("src/a.txt", "a\n");
    test.run(&["run"])
        .status(1)
        .stdout_has("    failed  flaky  [T]  exit code 1 (run line 2)\n");
    test.run(&["run"])
        .status(1)
        .stdout_has("    failed  flaky  [T]  exit code 1 (run line 2)\n");
    assert_eq!(runs(&test, "flaky"), 2);
    test.write("go", b"");
    test.run(&["run"])
        .status(0)
        .stdout(&alone("passed", "flaky"));
    test.run(&["run"])
        .status(0)
        .stdout(&alone("cached", "flaky"));
    assert_eq!(runs(&test, "flaky"), 3);
}

#[test]
fn cache_false_and_gates_without_inputs_always_run() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "net" {{ inputs "src/**"; cache #false; run "{}" }}
            gate "plain" {{ run "{}" }}
            "#,
            mark("net"),
            mark("plain")
        ))
        .file("src/a.txt", "a\n");
    for round in 1..=3 {
        let output = test.run(&["run", "-j", "1"]);
        output.status(0);
        assert_eq!(
            shown(&output),
            "    passed  net    [T]\n    passed  plain  [T]\n\ngate: 2 passed in [T]\n"
        );
        assert_eq!(runs(&test, "net"), round);
        assert_eq!(runs(&test, "plain"), round);
    }
    test.run(&["explain", "net"])
        .status(0)
        .stdout_has("net: would run: never cached: `cache #false`\n");
    test.run(&["explain", "plain"])
        .status(0)
        .stdout_has("plain: would run: never cached: no `inputs` declared\n");
}

#[test]
fn no_cache_runs_everything_and_still_stores() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "g" {{ inputs "src/**"; outputs "out.txt"; run "{}" "cp src/a.txt out.txt" }}"#,
            mark("g")
        ))
        .file("src/a.txt", "a\n");
    test.run(&["run", "--no-cache"])
        .status(0)
        .stdout(&alone("passed", "g"));
    remove(&test.path("out.txt"));
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));
    assert_eq!(test.read("out.txt"), "a\n");
    test.run(&["run", "--no-cache", "-v"])
        .status(0)
        .stdout_has("    passed  g  [T]  ran: --no-cache\n");
    assert_eq!(runs(&test, "g"), 2);
    test.run(&["run"]).status(0).stdout(&alone("cached", "g"));
    assert_eq!(runs(&test, "g"), 2);
}

// 6. Damage.

/// Ways a file can be damaged.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Empty,
    Half,
    FlipFirst,
    FlipMiddle,
    FlipLast,
    Garbage,
    Delete,
}

impl Damage {
    fn apply(self, path: &Path) {
        let bytes = std::fs::read(path).expect("read a cache file");
        let flip = |index: usize| {
            let mut bytes = bytes.clone();
            match bytes.get_mut(index) {
                Some(byte) => *byte ^= 0x01,
                None => bytes.push(0),
            }
            bytes
        };
        let damaged = match self {
            Damage::Empty => Vec::new(),
            Damage::Half => bytes[..bytes.len() / 2].to_vec(),
            Damage::FlipFirst => flip(0),
            Damage::FlipMiddle => flip(bytes.len() / 2),
            Damage::FlipLast => flip(bytes.len().saturating_sub(1)),
            Damage::Garbage => {
                let mut state = 0x2545_f491_u32;
                (0..bytes.len().max(100))
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        state as u8
                    })
                    .collect()
            }
            Damage::Delete => {
                remove(path);
                return;
            }
        };
        std::fs::write(path, damaged).expect("damage a cache file");
    }
}

const STORED: &str = r#"
gate "build" {
    inputs "src/**"
    outputs "out"
    run "mkdir -p out && cp src/in.txt out/a.txt && cp src/in.txt out/same.txt"
    run "cp src/blob.bin out/b.bin && chmod 755 out/b.bin"
}
"#;

fn stored_test() -> Test {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(STORED)
        .file("src/in.txt", "some text\n");
    test.write("src/blob.bin", &binary());
    test
}

/// What a cache file is, judged by where it is and what the entry says.
fn role(cache: &Path, file: &Path) -> &'static str {
    let relative = file.strip_prefix(cache).expect("in the cache");
    if relative.starts_with("entries") {
        return "entry";
    }
    if relative == Path::new("lock") {
        return "lock";
    }
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let entry = files_under(&cache.join("entries"))
        .into_iter()
        .next()
        .expect("one entry");
    if decode_entry(&entry)["log"]["digest"] == name {
        "log"
    } else {
        "output"
    }
}

/// Damages each file of a fresh cache in turn: the next run exits 0 with the right outputs,
/// and the run after that is a hit again.
fn every_cache_file_survives(damage: Damage) {
    let reference = stored_test();
    reference.run(&["run"]).status(0);
    let expected = snapshot(&reference.path("out"));
    let count = files_under(&reference.path(".gate/cache")).len();
    assert_eq!(count, 5, "one entry, three blobs, the lock");
    for index in 0..count {
        let test = stored_test();
        test.run(&["run"])
            .status(0)
            .stdout(&alone("passed", "build"));
        let cache = test.path(".gate/cache");
        let file = files_under(&cache).remove(index);
        let role = role(&cache, &file);
        let before = std::fs::read(&file).expect("read");
        damage.apply(&file);
        let unchanged = std::fs::read(&file).is_ok_and(|after| after == before);
        remove(&test.path("out"));
        let what = format!("{damage:?} on the {role} {}", file.display());

        let output = test.run(&["run"]);
        output.status(0);
        assert_eq!(snapshot(&test.path("out")), expected, "{what}");
        let word = statuses(&output)["build"].clone();
        match (role, damage) {
            _ if unchanged => assert_eq!(word, "cached", "{what}"),
            ("entry", Damage::Delete) => {
                assert_eq!(output.stdout, alone("passed", "build"), "{what}")
            }
            ("entry" | "output", _) => {
                assert_eq!(word, "passed", "{what}");
                assert!(
                    output.stdout.contains("\n           warning: "),
                    "{what}: no warning under the status line\n{}",
                    output.stdout
                );
            }
            ("lock", _) => assert_eq!(output.stdout, alone("cached", "build"), "{what}"),
            _ => assert!(
                output.stdout.ends_with("\ngate: 1 cached in [T]\n"),
                "{what}"
            ),
        }

        remove(&test.path("out"));
        test.run(&["run"])
            .status(0)
            .stdout(&alone("cached", "build"));
        assert_eq!(snapshot(&test.path("out")), expected, "{what}, then a hit");
    }
}

#[test]
fn an_emptied_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::Empty);
}

#[test]
fn a_truncated_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::Half);
}

#[test]
fn a_flipped_first_byte_in_a_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::FlipFirst);
}

#[test]
fn a_flipped_middle_byte_in_a_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::FlipMiddle);
}

#[test]
fn a_flipped_last_byte_in_a_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::FlipLast);
}

#[test]
fn a_cache_file_full_of_garbage_is_a_miss() {
    every_cache_file_survives(Damage::Garbage);
}

#[test]
fn a_deleted_cache_file_is_a_miss() {
    every_cache_file_survives(Damage::Delete);
}

/// The entry file for `gate`'s current key (from `gate explain`).
fn entry_of(test: &Test, gate: &str) -> PathBuf {
    let key = explained_key(&test.run(&["explain", gate]));
    test.path(&format!(".gate/cache/entries/{}/{key}", &key[..2]))
}

/// An entry as gate writes it: the blake3 of the JSON in hex, a newline, the JSON.
fn encode_entry(json: &serde_json::Value) -> Vec<u8> {
    let json = serde_json::to_vec(json).expect("JSON");
    let mut bytes = blake3::hash(&json).to_hex().as_bytes().to_vec();
    bytes.push(b'\n');
    bytes.extend_from_slice(&json);
    bytes
}

fn decode_entry(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read an entry");
    serde_json::from_str(text.split_once('\n').expect("a checksum line").1).expect("JSON")
}

#[test]
fn an_entry_under_another_keys_name_is_a_miss() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(
            r#"
            gate "a" { inputs "a.in"; outputs "a.out"; run "cp a.in a.out" }
            gate "b" { inputs "b.in"; outputs "b.out"; run "cp b.in b.out" }
            "#,
        )
        .file("a.in", "for a\n")
        .file("b.in", "for b\n");
    test.run(&["run"]).status(0);
    // A whole, valid entry, but for another key (a botched copy or sync).
    std::fs::copy(entry_of(&test, "a"), entry_of(&test, "b")).expect("copy an entry");
    remove(&test.path("a.out"));
    remove(&test.path("b.out"));
    let output = test.run(&["run", "-j", "1"]);
    output
        .status(0)
        .stdout_has("    passed  b  [T]\n           warning: ");
    assert_eq!(
        statuses(&output),
        expect(&[("a", "cached"), ("b", "passed")])
    );
    assert_eq!(test.read("a.out"), "for a\n");
    assert_eq!(test.read("b.out"), "for b\n");
    let output = test.run(&["run", "-j", "1"]);
    assert_eq!(
        statuses(&output),
        expect(&[("a", "cached"), ("b", "cached")])
    );
}

#[test]
fn an_entry_never_writes_outside_the_gates_declared_outputs() {
    // A shared cache is written by other checkouts (and CI caches by other builds): an entry
    // with a good checksum that names paths the gate does not declare must not be obeyed.
    let test = stored_test();
    test.run(&["run"]).status(0);
    let expected = snapshot(&test.path("out"));
    let entry = entry_of(&test, "build");
    let mut json = decode_entry(&entry);
    let name = test
        .root()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name")
        .to_owned();
    let outside = test.root().with_file_name(format!("{name}-escaped"));
    let forged = [
        format!("../{name}-escaped"),
        outside.display().to_string(),
        ".git/hooks/pre-commit".to_owned(),
        "src/in.txt".to_owned(),
    ];
    let template = json["outputs"]
        .as_array()
        .expect("a list of outputs")
        .iter()
        .find(|o| o["path"] == "out/b.bin")
        .expect("out/b.bin is stored")
        .clone();
    for path in &forged {
        let mut output = template.clone();
        output["path"] = serde_json::Value::String(path.clone());
        output["mode"] = serde_json::json!(0o755);
        json["outputs"]
            .as_array_mut()
            .expect("a list of outputs")
            .push(output);
    }
    std::fs::write(&entry, encode_entry(&json)).expect("write the entry");
    remove(&test.path("out"));
    let output = test.run(&["run"]);
    let mut written = Vec::new();
    if outside.exists() {
        let _ = std::fs::remove_file(&outside);
        written.push(outside.display().to_string());
    }
    if test.path(".git/hooks/pre-commit").exists() {
        written.push(".git/hooks/pre-commit".to_owned());
    }
    if std::fs::read(test.path("src/in.txt")).ok().as_deref() != Some(b"some text\n".as_slice()) {
        written.push("src/in.txt (an input)".to_owned());
    }
    output.status(0);
    assert!(
        written.is_empty(),
        "a forged cache entry wrote {written:?}\n{}",
        output.stdout
    );
    assert_eq!(snapshot(&test.path("out")), expected);
}

#[test]
fn a_damaged_log_blob_is_replaced_when_it_is_replayed() {
    let test = stored_test();
    test.run(&["run"]).status(0);
    let expected = snapshot(&test.path("out"));
    let cache = test.path(".gate/cache");
    let log = files_under(&cache)
        .into_iter()
        .find(|f| role(&cache, f) == "log")
        .expect("a log blob");
    Damage::FlipMiddle.apply(&log);
    // `-v` replays the log of a hit: the damage is found, said, and repaired.
    let output = test.run(&["run", "-v"]);
    output.status(0).stdout_has("\n           warning: ");
    assert_eq!(snapshot(&test.path("out")), expected);
    let output = test.run(&["run", "-v"]);
    output.status(0);
    assert!(
        !output.stdout.contains("warning"),
        "the damaged log is still in use:\n{}",
        output.stdout
    );
}

#[test]
fn a_damaged_stat_cache_is_rebuilt() {
    for damage in [
        Damage::Empty,
        Damage::Half,
        Damage::FlipMiddle,
        Damage::Garbage,
        Damage::Delete,
    ] {
        let test = stored_test();
        test.run(&["run"]).status(0);
        let expected = snapshot(&test.path("out"));
        damage.apply(&test.path(".gate/stat-cache"));
        test.run(&["run"])
            .status(0)
            .stdout(&alone("cached", "build"));
        // A change made while the stat cache was damaged is seen.
        damage.apply(&test.path(".gate/stat-cache"));
        test.write("src/in.txt", b"some TEXT\n");
        test.run(&["run"])
            .status(0)
            .stdout(&alone("passed", "build"));
        assert_eq!(test.read("out/a.txt"), "some TEXT\n", "{damage:?}");
        test.write("src/in.txt", b"some text\n");
        remove(&test.path("out"));
        test.run(&["run"])
            .status(0)
            .stdout(&alone("cached", "build"));
        assert_eq!(snapshot(&test.path("out")), expected, "{damage:?}");
    }
}

#[test]
fn damaged_key_records_do_not_break_runs_or_explain() {
    for damage in [
        Damage::Empty,
        Damage::Half,
        Damage::FlipMiddle,
        Damage::Garbage,
        Damage::Delete,
    ] {
        for victim in ["build.json", "build.key"] {
            let test = stored_test();
            test.run(&["run"]).status(0);
            let what = format!("{damage:?} on {victim}");
            damage.apply(&test.path(&format!(".gate/keys/{victim}")));
            test.run(&["explain", "build"])
                .status(0)
                .stdout_has("build: would be restored from the cache\n");
            test.run(&["run"])
                .status(0)
                .stdout(&alone("cached", "build"));
            // The run repaired the record: explain names the next change.
            test.write("src/in.txt", b"changed\n");
            let output = test.run(&["explain", "build"]);
            output.status(0);
            assert!(
                output
                    .stdout
                    .starts_with("build: would run: input changed: src/in.txt\n"),
                "{what}\n{}",
                output.stdout
            );
            test.run(&["run"])
                .status(0)
                .stdout(&alone("passed", "build"));
            assert_eq!(test.read("out/a.txt"), "changed\n", "{what}");
        }
    }
}

// 7. One cache, two checkouts, at the same time.

/// Twenty gates, each copying its input to its output, half of them in a chain.
fn many_gates() -> String {
    let mut text = String::new();
    for i in 0..20 {
        let deps = if i % 2 == 1 {
            format!("deps \"g{}\"; ", i - 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "gate \"g{i}\" {{ {deps}inputs \"src/{i}.txt\"; outputs \"out/{i}\"; run \"mkdir -p out/{i} && cp src/{i}.txt out/{i}/copy && cp src/{i}.txt out/{i}/again\" }}\n"
        ));
    }
    text
}

fn checkout(cache: &Path) -> Test {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&many_gates())
        .env("GATE_CACHE_DIR", cache.to_str().expect("a UTF-8 path"));
    for i in 0..20 {
        test.write(
            &format!("src/{i}.txt"),
            format!("content {i}\n").repeat(i + 1).as_bytes(),
        );
    }
    test
}

fn assert_copies(test: &Test) {
    for i in 0..20 {
        let expected = std::fs::read(test.path(&format!("src/{i}.txt"))).expect("an input");
        for name in ["copy", "again"] {
            let path = test.path(&format!("out/{i}/{name}"));
            let actual = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(actual, expected, "{}", path.display());
        }
    }
}

fn all_cached(output: &Output) {
    output.status(0);
    let words = statuses(output);
    assert_eq!(words.len(), 20, "{}", output.stdout);
    assert!(
        words.values().all(|w| w == "cached"),
        "not all cached:\n{}",
        output.stdout
    );
    assert!(!output.stdout.contains("warning"), "{}", output.stdout);
}

#[test]
fn two_checkouts_share_one_cache_at_the_same_time() {
    let shared = tempfile::tempdir().expect("a temporary directory");
    let cache = shared.path().join("cache");
    let (a, b) = (checkout(&cache), checkout(&cache));
    let (first, second) = (a.spawn(&["run", "-j", "8"]), b.spawn(&["run", "-j", "8"]));
    let (first, second) = (finish(first), finish(second));
    for output in [&first, &second] {
        output.status(0);
        assert!(!output.stdout.contains("warning"), "{}", output.stdout);
        assert!(!output.stdout.contains("failed"), "{}", output.stdout);
    }
    assert_copies(&a);
    assert_copies(&b);
    assert!(
        !a.path(".gate/cache").exists(),
        "GATE_CACHE_DIR moves the cache"
    );
    for test in [&a, &b] {
        all_cached(&test.run(&["run"]));
        remove(&test.path("out"));
        all_cached(&test.run(&["run"]));
        assert_copies(test);
    }
}

#[test]
fn a_new_checkout_is_restored_from_a_shared_cache() {
    let shared = tempfile::tempdir().expect("a temporary directory");
    let a = checkout(shared.path());
    a.run(&["run"]).status(0);
    let b = checkout(shared.path());
    all_cached(&b.run(&["run"]));
    assert_copies(&b);
}

#[test]
fn a_tool_inside_the_checkout_does_not_stop_sharing() {
    // The same commit in two places: `tools/check.sh` is the same file in both.
    let shared = tempfile::tempdir().expect("a temporary directory");
    let checkout = || {
        let test = Test::new()
            .file(".gitignore", GITIGNORE)
            .gates(&format!(
                r#"gate "check" {{ requires "tools/check.sh" "sh"; inputs "src/**"; outputs "out.txt"; run "{}" "tools/check.sh > out.txt" }}"#,
                mark("check")
            ))
            .file("src/a.txt", "a\n")
            .file("tools/check.sh", "#!/bin/sh\necho checked\n")
            .env("GATE_CACHE_DIR", shared.path().to_str().expect("a UTF-8 path"));
        chmod(&test.path("tools/check.sh"), 0o755);
        test
    };
    let a = checkout();
    a.run(&["run"]).status(0).stdout(&alone("passed", "check"));
    let b = checkout();
    let a_key = explained_key(&a.run(&["explain", "check"]));
    let b_key = explained_key(&b.run(&["explain", "check"]));
    assert_eq!(a_key, b_key, "the checkout's own path is in the key");
    b.run(&["run"]).status(0).stdout(&alone("cached", "check"));
    assert_eq!(b.read("out.txt"), "checked\n");
}

#[test]
fn a_relative_cache_dir_inside_the_root_is_not_an_input() {
    let test = Test::new()
        .file(".gitignore", "runs/\nbuild/\n")
        .gates(&format!(
            r#"gate "all" {{ inputs "**"; outputs "build/out.txt"; run "{}" "mkdir -p build && echo out > build/out.txt" }}"#,
            mark("all")
        ))
        .file("a.txt", "a\n")
        .env("GATE_CACHE_DIR", "shared/cache");
    test.run(&["run"]).status(0).stdout(&alone("passed", "all"));
    assert!(test.path("shared/cache/entries").is_dir());
    test.run(&["run"]).status(0).stdout(&alone("cached", "all"));
    remove(&test.path("build"));
    test.run(&["run"]).status(0).stdout(&alone("cached", "all"));
    assert_eq!(test.read("build/out.txt"), "out\n");
    // From a subdirectory the cache is still relative to the root, and the keys the same.
    let test = test.cwd("a/b");
    test.run(&["run"]).status(0).stdout(&alone("cached", "all"));
    assert!(!test.path("a/b/shared").exists());
    assert_eq!(runs(&test, "all"), 1);
}

#[test]
fn prune_and_clean_racing_with_runs_never_break_them() {
    let shared = tempfile::tempdir().expect("a temporary directory");
    let cache = shared.path().join("cache");
    let (a, b) = (checkout(&cache), checkout(&cache));
    a.run(&["run"]).status(0);
    for round in 0..8 {
        // Every gate restores but one, which reruns on a new input, while the cache is emptied.
        remove(&a.path("out"));
        let i = round % 20;
        a.write(
            &format!("src/{i}.txt"),
            format!("round {round}\n").as_bytes(),
        );
        let action: &[&str] = match round % 3 {
            0 => &["cache", "clean"],
            _ => &["cache", "prune", "--max-size", "0"],
        };
        let run = a.spawn(&["run", "-j", "4"]);
        let trim = b.spawn(action);
        let (run, trim) = (finish(run), finish(trim));
        run.status(0);
        trim.status(0);
        assert!(!run.stdout.contains("failed"), "{}", run.stdout);
        assert_copies(&a);
    }
    // Whatever the races left, the cache is consistent: a run stores, the next one hits.
    a.run(&["run"]).status(0);
    remove(&a.path("out"));
    all_cached(&a.run(&["run"]));
    assert_copies(&a);
}

// 8. A check must not edit what it checks.

#[test]
fn a_gate_that_edits_its_own_inputs_fails() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(
            r#"
            gate "append" { inputs "src/**"; run "echo more >> src/a.txt" }
            gate "chmod" { inputs "lib/**"; run "chmod +x lib/a.txt" }
            gate "delete" { inputs "doc/**"; run "rm doc/a.txt" }
            gate "after" { deps "append"; run "true" }
            "#,
        )
        .file("src/a.txt", "a\n")
        .file("lib/a.txt", "a\n")
        .file("doc/a.txt", "a\n");
    let output = test.run(&["run", "-j", "1"]);
    output
        .status(1)
        .stdout_has(
            "    failed  append  [T]  changed its own inputs: src/a.txt (a check must not edit \
             what it checks; a gate that should says `fix #true`)\n",
        )
        .stdout_has("    failed  chmod   [T]  changed its own inputs: lib/a.txt (")
        .stdout_has("    failed  delete  [T]  changed its own inputs: doc/a.txt (")
        .stdout_has("   blocked  after   dependency append failed\n");
    // Not cached: it fails again.
    test.run(&["run", "append"])
        .status(1)
        .stdout_has("    failed  append  [T]  changed its own inputs: src/a.txt (");
}

#[test]
fn a_fix_gate_may_edit_its_inputs_is_never_cached_and_its_dependents_see_the_edit() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "fmt" {{
                fix #true
                inputs "src/**"
                run "{}"
                run "if [ -e upper ]; then tr a-z A-Z < src/a.txt > t; else sed 's/dirty/fixed/' src/a.txt > t; fi"
                run "cat t > src/a.txt && rm t"
            }}
            gate "lint" {{ deps "fmt"; inputs "src/**"; outputs "seen.txt"; run "{}" "cp src/a.txt seen.txt" }}
            "#,
            mark("fmt"),
            mark("lint")
        ))
        .file("src/a.txt", "dirty\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        shown(&output),
        "    passed  fmt   [T]\n    passed  lint  [T]\n\ngate: 2 passed in [T]\n"
    );
    assert_eq!(test.read("src/a.txt"), "fixed\n");
    assert_eq!(test.read("seen.txt"), "fixed\n");
    // fmt runs every time. (lint may run once more here: fmt's own key, taken before it ran,
    // moved from the dirty file to the fixed one.)
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(statuses(&output)["fmt"], "passed");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        shown(&output),
        "    passed  fmt   [T]\n    cached  lint  [T]\n\ngate: 1 passed, 1 cached in [T]\n"
    );
    assert_eq!(runs(&test, "fmt"), 3);
    assert_eq!(test.read("seen.txt"), "fixed\n");
    test.run(&["explain", "fmt"])
        .status(0)
        .stdout_has("fmt: would run: never cached: a `fix` gate always runs\n");

    // fmt sees the same files as last time (its key is unchanged) but now edits them: lint
    // must be keyed on what fmt left, not on what the run started with.
    let lint_runs = runs(&test, "lint");
    test.write("upper", b"");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[("fmt", "passed"), ("lint", "passed")])
    );
    assert_eq!(test.read("src/a.txt"), "FIXED\n");
    assert_eq!(test.read("seen.txt"), "FIXED\n");
    assert_eq!(runs(&test, "lint"), lint_runs + 1);
}

#[test]
fn a_fix_gate_without_inputs_still_shows_its_edits_to_dependents() {
    // The fix depends on a setting outside the checked files: a file that was clean (and
    // hashed, and trusted) becomes something else during the run.
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "fmt" {{ fix #true; run "if [ -e upper ]; then tr a-z A-Z < src/a.txt > t && mv t src/a.txt; fi" }}
            gate "lint" {{ deps "fmt"; inputs "src/**"; outputs "seen.txt"; run "{}" "cp src/a.txt seen.txt" }}
            "#,
            mark("lint")
        ))
        .file("src/a.txt", "hello\n");
    set_mtime(&test.path("src/a.txt"), long_ago());
    test.run(&["run", "-j", "1"]).status(0);
    // Let a second pass so that the stat cache trusts what it hashed.
    std::thread::sleep(Duration::from_millis(1100));
    test.run(&["run", "-j", "1"])
        .status(0)
        .stdout_has("    cached  lint  [T]\n");
    test.write("upper", b"");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(test.read("src/a.txt"), "HELLO\n");
    assert_eq!(
        test.read("seen.txt"),
        "HELLO\n",
        "lint was restored for the old content, not run on the new:\n{}",
        output.stdout
    );
}

// 9. explain, -v and --dry-run.

#[test]
fn explain_names_what_changed() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"gate "copy" {{ env MODE="a"; hash-env "SECRET"; inputs "src/**"; outputs "out.txt"; run "{}" "cat src/*.txt > out.txt" }}"#,
            mark("copy")
        ))
        .file("src/a.txt", "a\n")
        .file("src/b.txt", "b\n")
        .env("SECRET", "s1");
    test.run(&["explain", "copy"])
        .status(0)
        .stdout_has("copy: would run: no previous run\n")
        .stdout_has("  last run: none recorded\n");
    test.run(&["run"]).status(0);

    let output = test.run(&["explain", "copy"]);
    output
        .status(0)
        .stdout_has("copy: would be restored from the cache\n")
        .stdout_has("  inputs: 2 files (4 bytes)\n")
        .stdout_has("  nothing changed since\n");
    // The key is the name of the entry in the cache.
    let key = explained_key(&output);
    assert_eq!(key.len(), 64, "{key}");
    assert!(
        test.path(&format!(".gate/cache/entries/{}/{key}", &key[..2]))
            .is_file(),
        "no entry named {key}"
    );

    test.write("src/b.txt", b"B!\n");
    let output = test.run(&["explain", "copy"]);
    output
        .status(0)
        .stdout_has("copy: would run: input changed: src/b.txt\n")
        .stdout_has("  changed since: inputs changed (1):\n    src/b.txt\n");
    assert_ne!(explained_key(&output), key);
    test.run(&["run", "--dry-run"]).status(0).stdout(&format!(
        "plan for all: 1 gate, at most {} at a time\n       run  copy  input changed: src/b.txt\n            $ {}\n            $ cat src/*.txt > out.txt\n",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        mark("copy")
    ));
    test.run(&["run", "-v"])
        .status(0)
        .stdout_has("    passed  copy  [T]  ran: input changed: src/b.txt\n");
    test.run(&["run", "--dry-run", "-j", "3"]).status(0).stdout(
        "plan for all: 1 gate, at most 3 at a time\n    cached  copy  restored from the cache\n",
    );

    test.write("src/c.txt", b"c\n");
    remove(&test.path("src/a.txt"));
    test.run(&["explain", "copy"])
        .status(0)
        .stdout_has("copy: would run: input added: src/c.txt; input removed: src/a.txt\n")
        .stdout_has("  changed since: inputs added (1):\n    src/c.txt\n")
        .stdout_has("  changed since: inputs removed (1):\n    src/a.txt\n");
    test.write("src/a.txt", b"a\n");
    remove(&test.path("src/c.txt"));

    test.write(
        "gates.kdl",
        format!(
            r#"gate "copy" {{ env MODE="b"; hash-env "SECRET"; inputs "src/**"; outputs "out.txt"; run "{}" "cat src/*.txt > out.txt" }}"#,
            mark("copy")
        )
        .as_bytes(),
    );
    test.run(&["explain", "copy"])
        .status(0)
        .stdout_has("copy: would run: env changed: MODE\n")
        .stdout_has("  changed since: env changed: MODE\n");
    let test = test.env("SECRET", "s2");
    let output = test.run(&["explain", "copy"]);
    output
        .status(0)
        .stdout_has("copy: would run: env changed: MODE; hash-env value changed: SECRET\n");
    assert!(
        !output.stdout.contains("s2") && !output.stdout.contains("s1"),
        "a hash-env value is never shown\n{}",
        output.stdout
    );
    test.run(&["run", "-v"]).status(0).stdout_has(
        "    passed  copy  [T]  ran: env changed: MODE; hash-env value changed: SECRET\n",
    );
    for path in files_under(&test.path(".gate")) {
        let bytes = std::fs::read(&path).expect("read state");
        assert!(
            !bytes.windows(2).any(|w| w == b"s2"),
            "{} holds the hash-env value",
            path.display()
        );
    }
}

#[test]
fn explain_says_why_a_known_key_is_not_cached() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(r#"gate "g" { inputs "src/**"; run "test -e go" }"#)
        .file("src/a.txt", "a\n");
    test.run(&["run"]).status(1);
    test.run(&["explain", "g"])
        .status(0)
        .stdout_has("g: would run: the last run with this key failed (only passes are cached)\n");
    test.write("go", b"");
    test.run(&["run"]).status(0);
    test.run(&["cache", "clean"]).status(0);
    test.run(&["explain", "g"])
        .status(0)
        .stdout_has("g: would run: no cache entry for this key (pruned, cleaned or damaged)\n");
}

#[test]
fn verbose_replays_the_log_of_a_cached_gate() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(r#"gate "say" { inputs "src/**"; run "echo hello from the gate" }"#)
        .file("src/a.txt", "a\n");
    test.run(&["run", "-v"]).status(0).stdout(
        "            say | $ echo hello from the gate\n            say | hello from the gate\n    passed  say  [T]  ran: no previous run\n\ngate: 1 passed in [T]\n",
    );
    test.run(&["run", "-v"]).status(0).stdout(
        "            say | $ echo hello from the gate\n            say | hello from the gate\n    cached  say  [T]\n            log: .gate/logs/say.log\n\ngate: 1 cached in [T]\n",
    );
}

// 10. The cache commands.

#[test]
fn cache_stats_prune_and_clean() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "a" {{ inputs "src/**"; outputs "a.txt"; run "{}" "cp src/a.txt a.txt" }}
            gate "b" {{ inputs "src/**"; outputs "b.txt"; run "{}" "cp src/a.txt b.txt" }}
            gate "c" {{ run "true" }}
            "#,
            mark("a"),
            mark("b")
        ))
        .file("src/a.txt", "a\n");
    let dir = test.path(".gate/cache");
    let dir = dir.display();
    test.run(&["cache", "stats"]).status(0).stdout(&format!(
        "cache: {dir}\nentries: 0\nblobs: 0\nsize: 0 B\nlast run: none recorded\n"
    ));
    test.run(&["run"]).status(0);
    let stats = test.run(&["cache", "stats"]);
    stats
        .status(0)
        .stdout_has(&format!("cache: {dir}\nentries: 2\nblobs: 3\nsize: "))
        .stdout_has("\nlast run: 0 hits, 2 misses (0% hit rate)\n");
    remove(&test.path("b.txt"));
    test.write("src/a.txt", b"new\n");
    test.run(&["run", "a"]).status(0);
    test.run(&["run"]).status(0);
    test.run(&["cache", "stats"])
        .status(0)
        .stdout_has("\nentries: 4\nblobs: 4\n")
        .stdout_has("\nlast run: 1 hit, 1 miss (50% hit rate)\n");

    // Nothing is 30 days old.
    test.run(&["cache", "prune", "--older-than", "30d"])
        .status(0)
        .stdout_has(&format!(
            "pruned {dir}: removed 0 entries and 0 blobs (0 B); left 4 entries and 4 blobs ("
        ));
    test.run(&["run", "-j", "1"]).status(0).stdout_has(
        "    cached  a  [T]\n    cached  b  [T]\n    passed  c  [T]\n\ngate: 1 passed, 2 cached in [T]\n",
    );

    test.run(&["cache", "prune", "--max-size", "0"])
        .status(0)
        .stdout_has(&format!("pruned {dir}: removed 4 entries and 4 blobs ("))
        .stdout_has("); left 0 entries and 0 blobs (0 B)\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        shown(&output),
        "    passed  a  [T]\n    passed  b  [T]\n    passed  c  [T]\n\ngate: 3 passed in [T]\n"
    );
    assert_eq!((runs(&test, "a"), runs(&test, "b")), (3, 3));

    // A size limit keeps the most recently used entries.
    test.run(&["cache", "prune", "--max-size", "1K"]).status(0);
    test.run(&["cache", "clean"])
        .status(0)
        .stdout_has(&format!("cleaned {dir}: removed "));
    test.run(&["cache", "stats"])
        .status(0)
        .stdout_has("\nentries: 0\nblobs: 0\nsize: 0 B\n");
    test.run(&["run", "-j", "1"]).status(0);
    assert_eq!((runs(&test, "a"), runs(&test, "b")), (4, 4));
}

#[test]
fn prune_removes_what_was_used_least_recently() {
    let test = Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(&format!(
            r#"
            gate "a" {{ inputs "a.in"; outputs "a.out"; run "{}" "cp a.in a.out" }}
            gate "b" {{ inputs "b.in"; outputs "b.out"; run "{}" "cp b.in b.out" }}
            "#,
            mark("a"),
            mark("b")
        ))
        .file("a.in", "for a\n")
        .file("b.in", "for b, a little longer\n");
    test.run(&["run"]).status(0);
    let dir = test.path(".gate/cache");

    // Old but used just now: a hit refreshes it.
    set_mtime(&entry_of(&test, "a"), long_ago());
    test.run(&["run", "-j", "1"]).status(0);
    test.run(&["cache", "prune", "--older-than", "30d"])
        .status(0)
        .stdout(&format!(
            "pruned {}: removed 0 entries and 0 blobs (0 B); left 2 entries and 4 blobs ({})\n",
            dir.display(),
            test.run(&["cache", "stats"])
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("size: "))
                .expect("a size line")
        ));

    // Old and unused: removed, with the blobs only it used.
    set_mtime(&entry_of(&test, "a"), long_ago());
    test.run(&["cache", "prune", "--older-than", "30d"])
        .status(0)
        .stdout_has(" removed 1 entry and 2 blobs (")
        .stdout_has("; left 1 entry and 2 blobs (");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        shown(&output),
        "    passed  a  [T]\n    cached  b  [T]\n\ngate: 1 passed, 1 cached in [T]\n"
    );

    // Over the size limit: the least recently used entry goes first, and only as many as needed.
    set_mtime(&entry_of(&test, "b"), long_ago());
    let total: u64 = ["entries", "blobs"]
        .iter()
        .flat_map(|sub| files_under(&dir.join(sub)))
        .map(|f| std::fs::metadata(f).expect("stat").len())
        .sum();
    test.run(&["cache", "prune", "--max-size", &(total - 1).to_string()])
        .status(0)
        .stdout_has(" removed 1 entry and 2 blobs (");
    remove(&test.path("a.out"));
    remove(&test.path("b.out"));
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        shown(&output),
        "    cached  a  [T]\n    passed  b  [T]\n\ngate: 1 passed, 1 cached in [T]\n"
    );
    assert_eq!((runs(&test, "a"), runs(&test, "b")), (2, 2));
    assert_eq!(test.read("a.out"), "for a\n");

    test.run(&["cache", "prune"])
        .status(2)
        .stderr_has("say what to prune: --max-size SIZE and/or --older-than AGE");
}

// 11. A new user's project.

#[test]
fn a_python_project_reruns_exactly_what_a_test_change_touches() {
    let gates = format!(
        r#"
        default "ci"
        gate "lint" {{ inputs "src/**/*.py" "tests/**/*.py"; run "{}" "cat src/pkg/*.py tests/*.py > /dev/null" }}
        gate "typecheck" {{ inputs "src/**/*.py"; run "{}" "grep -q def src/pkg/core.py" }}
        gate "test" {{
            inputs "src/**" "tests/**"
            outputs "build/results.txt"
            run "{}" "mkdir -p build" "cat tests/test_*.py | grep -c assert > build/results.txt"
        }}
        gate "coverage" {{
            deps "test"
            inputs "tests/**" "build/results.txt"
            outputs "build/coverage.txt"
            run "{}" "echo covered $(cat build/results.txt) > build/coverage.txt"
        }}
        gate "ci" {{ deps "lint" "typecheck" "test" "coverage" }}
        "#,
        mark("lint"),
        mark("typecheck"),
        mark("test"),
        mark("coverage")
    );
    let test = Test::new()
        .file(".gitignore", "runs/\nbuild/\n__pycache__/\n*.pyc\n.venv/\n")
        .gates(&gates)
        .file("src/pkg/__init__.py", "")
        .file("src/pkg/core.py", "def add(a, b):\n    return a + b\n")
        .file("src/pkg/util.py", "def double(x):\n    return 2 * x\n")
        .file(
            "tests/test_core.py",
            "def test_add():\n    assert add(1, 2) == 3\n",
        )
        .file(
            "tests/test_util.py",
            "def test_double():\n    assert double(2) == 4\n",
        )
        .file(".venv/lib/site.py", "ignored\n")
        .file("src/pkg/__pycache__/core.cpython-312.pyc", "bytecode");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("ci", "passed"),
            ("coverage", "passed"),
            ("lint", "passed"),
            ("test", "passed"),
            ("typecheck", "passed"),
        ])
    );
    assert_eq!(test.read("build/coverage.txt"), "covered 2\n");

    // Bytecode and a virtualenv are not inputs.
    test.write(
        "src/pkg/__pycache__/core.cpython-312.pyc",
        b"other bytecode",
    );
    test.write(".venv/lib/site.py", b"changed\n");
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("ci", "passed"),
            ("coverage", "cached"),
            ("lint", "cached"),
            ("test", "cached"),
            ("typecheck", "cached"),
        ])
    );

    // One test file changes.
    test.write(
        "tests/test_util.py",
        b"def test_double():\n    assert double(2) == 4\n    assert double(0) == 0\n",
    );
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("ci", "passed"),
            ("coverage", "passed"),
            ("lint", "passed"),
            ("test", "passed"),
            ("typecheck", "cached"),
        ])
    );
    assert_eq!(test.read("build/coverage.txt"), "covered 3\n");
    assert_eq!(
        [
            runs(&test, "lint"),
            runs(&test, "typecheck"),
            runs(&test, "test"),
            runs(&test, "coverage")
        ],
        [2, 1, 2, 2]
    );

    // A fresh clone of the same commit (build/ gone): everything restored.
    remove(&test.path("build"));
    let output = test.run(&["run", "-j", "1"]);
    output.status(0);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("ci", "passed"),
            ("coverage", "cached"),
            ("lint", "cached"),
            ("test", "cached"),
            ("typecheck", "cached"),
        ])
    );
    assert_eq!(test.read("build/results.txt"), "3\n");
    assert_eq!(test.read("build/coverage.txt"), "covered 3\n");

    // A source change reruns typecheck too.
    test.write("src/pkg/core.py", b"def add(a, b):\n    return b + a\n");
    let output = test.run(&["run", "-j", "1"]);
    assert_eq!(
        statuses(&output),
        expect(&[
            ("ci", "passed"),
            ("coverage", "passed"),
            ("lint", "passed"),
            ("test", "passed"),
            ("typecheck", "passed"),
        ])
    );
}

// kill -9 at any moment.

#[test]
fn a_run_killed_at_any_moment_leaves_a_cache_the_next_run_reads() {
    // Twelve gates, each storing a 256 KiB output made from its input; `gate` is killed
    // with SIGKILL at a different moment of each round: while keying, running or storing.
    let mut gates = String::new();
    for n in 0..12 {
        gates.push_str(&format!(
            "gate \"g{n}\" {{ inputs \"src/{n}.txt\"; outputs \"out/{n}.bin\"; \
             run \"mkdir -p out && yes $(cat src/{n}.txt) | head -n 4096 > out/{n}.bin\" }}\n"
        ));
    }
    let test = Test::new().file(".gitignore", "out/\n").gates(&gates);
    for n in 0..12 {
        test.write(&format!("src/{n}.txt"), format!("{n:063}\n").as_bytes());
    }
    let expected: Vec<Vec<u8>> = (0..12)
        .map(|n| format!("{n:063}\n").repeat(4096).into_bytes())
        .collect();
    for (round, delay) in [5u64, 20, 40, 80, 120, 200].into_iter().enumerate() {
        let _ = std::fs::remove_dir_all(test.path("out"));
        // A different input each round, so every round has something to store.
        test.write("src/0.txt", format!("{round:063}\n").as_bytes());
        let mut child = test.spawn(&["run", "-j", "2"]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever it was doing, the next run is right, and the one after is all cached.
        let _ = std::fs::remove_dir_all(test.path("out"));
        let output = test.run(&["run", "-j", "2"]);
        output.status(0);
        assert!(!output.stdout.contains("warning"), "{}", output.stdout);
        for (n, bytes) in expected.iter().enumerate().skip(1) {
            assert_eq!(
                &std::fs::read(test.path(&format!("out/{n}.bin"))).unwrap(),
                bytes
            );
        }
        let first = format!("{round:063}\n").repeat(4096).into_bytes();
        assert_eq!(std::fs::read(test.path("out/0.bin")).unwrap(), first);
        let again = test.run(&["run", "-j", "2"]);
        again.status(0);
        assert_eq!(
            again.stdout.matches("    cached  ").count(),
            12,
            "{}",
            again.stdout
        );
    }
    // Temporary files a killed run left behind are garbage that prune removes.
    test.run(&["cache", "prune", "--older-than", "3650d"])
        .status(0);
    let leftovers: Vec<PathBuf> = files_under(&test.path(".gate/cache"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_version_command_runs_once_per_run_for_each_environment_it_runs_in() {
    // Each run of the version command appends a line to `probes` (outside every input).
    let test = Test::new()
        .gates(
            r#"
vars { probe "echo probed >> probes; echo tool 1.0" }
gate "a" { inputs "src/**"; version "${probe}"; run "true" }
gate "b" { inputs "src/**"; version "${probe}"; requires "sh"; run "true" }
gate "c" { inputs "src/**"; version "${probe}"; env MODE="other"; run "true" }
"#,
        )
        .file("src/a.txt", "a\n");
    test.run(&["run", "-j", "1"]).status(0);
    // a and b share one run of the command (their tools differ, their environment does
    // not); c's environment differs, so it gets its own.
    assert_eq!(test.read("probes").lines().count(), 2);
    test.run(&["run"]).status(0).stdout_has("cached  c");
    assert_eq!(test.read("probes").lines().count(), 4);
}

#[test]
fn a_version_command_that_prints_more_than_a_pipe_holds_does_not_stall() {
    // 200 KB on stdout: more than a pipe buffers, so the output must be read while it runs
    // (the test would take the 60 s limit otherwise, and the gate would be keyed on an error).
    let test = Test::new()
        .gates(
            r#"gate "big" { inputs "src/**"; version "head -c 200000 /dev/zero | tr '\\0' x; echo"; run "true" }"#,
        )
        .file("src/a.txt", "a\n");
    test.run(&["run"]).status(0).stdout_has("passed  big");
    let explained = test.run(&["explain", "big"]);
    explained.status(0).stdout_has("xxxxxxxx");
    assert!(!explained.stdout.contains("did not finish"));
}
