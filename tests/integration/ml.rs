//! End to end: `examples/ml-repo` and the presets in `tasks/`, run by the real binary with the
//! real Python tools (ruff, mypy, pytest, coverage, bandit, semgrep, detect-secrets, hadolint,
//! numpy; `tests/e2e-requirements.txt`) on fresh copies in temporary git repositories. trivy is
//! kept off PATH, and pip-audit is opt-in. Without the tools each test says so and passes,
//! unless `GATE_E2E=1`, which makes a missing tool a failure.
//!
//! One cold `gate run all` warms a template (its `.gate/` cache and `artifacts/`), and each
//! test that starts from a warm state copies it, so semgrep and mypy run cold once per suite.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::cache::{files_under, statuses};
use crate::test::{Output, Test};

/// Where the example lives in the copies: the same layout as this repository, so its
/// `include "../../tasks/python-ml.kdl"` holds.
const EXAMPLE: &str = "examples/ml-repo";

const TOOLS: &[&str] = &[
    "python",
    "ruff",
    "mypy",
    "coverage",
    "bandit",
    "semgrep",
    "detect-secrets",
    "hadolint",
];

/// Every gate `all` runs, groups aside.
const CI_GATES: &[&str] = &[
    "audit.s1",
    "audit.s2",
    "audit.s3",
    "audit.s4",
    "audit.s5",
    "audit.s6",
    "audit.s7",
    "bandit",
    "coverage",
    "hadolint",
    "lint",
    "secrets",
    "semgrep",
    "test",
    "train-smoke",
    "typecheck",
];
const GROUPS: &[&str] = &["all", "audit", "ci", "fast"];

/// Whether the tools are here; when not, says why, and fails under `GATE_E2E=1`.
fn have_tools() -> bool {
    let missing: Vec<&str> = TOOLS
        .iter()
        .copied()
        .filter(|tool| which::which(tool).is_err())
        .collect();
    let imports = Command::new("python")
        .args(["-I", "-c", "import numpy, pytest, pytest_cov"])
        .output()
        .is_ok_and(|o| o.status.success());
    if missing.is_empty() && imports {
        return true;
    }
    let what = if missing.is_empty() {
        "numpy, pytest or pytest-cov (not importable by `python`)".to_owned()
    } else {
        missing.join(", ")
    };
    assert!(
        std::env::var_os("GATE_E2E").is_none_or(|v| v != "1"),
        "GATE_E2E=1 but {what} is missing (pip install -r tests/e2e-requirements.txt)"
    );
    eprintln!("skipped: {what} is missing (GATE_E2E=1 makes this a failure)");
    false
}

/// PATH without the directories that hold trivy: its absence is part of what is tested.
fn path_without_trivy() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<PathBuf> = std::env::split_paths(&path)
        .filter(|dir| !dir.join("trivy").exists())
        .collect();
    std::env::join_paths(kept)
        .expect("PATH entries join")
        .to_string_lossy()
        .into_owned()
}

/// A test repository with gate run from the example's directory.
fn repository() -> Test {
    Test::new().env("PATH", &path_without_trivy()).cwd(EXAMPLE)
}

/// Copies a tree; `skip` names entries (by file name) to leave out. Symlinks stay symlinks.
fn copy_tree(from: &Path, to: &Path, skip: &dyn Fn(&str) -> bool) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if skip(&name) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        let kind = entry.file_type().expect("a file type");
        if kind.is_dir() {
            copy_tree(&source, &target, skip);
        } else if kind.is_symlink() {
            let link = std::fs::read_link(&source).expect("read a symlink");
            std::os::unix::fs::symlink(link, &target).expect("make a symlink");
        } else {
            std::fs::copy(&source, &target).expect("copy a file");
        }
    }
}

/// What the checkout holds besides the example's sources: caches and generated files.
fn generated(name: &str) -> bool {
    matches!(
        name,
        ".gate"
            | "artifacts"
            | "build"
            | "dist"
            | "__pycache__"
            | ".mypy_cache"
            | ".pytest_cache"
            | ".ruff_cache"
            | ".coverage"
            | ".semgrep"
    ) || name.ends_with(".egg-info")
}

fn git(test: &Test, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=gate",
            "-c",
            "user.email=gate@example.invalid",
        ])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(test.root())
        .env("HOME", test.root())
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

fn commit(test: &Test) {
    git(test, &["add", "-A"]);
    git(test, &["commit", "-q", "-m", "copy"]);
}

/// A fresh copy of the example (and the presets) as in a clean checkout: committed, no
/// cache, no artifacts.
fn fresh() -> Test {
    let test = repository();
    let source = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_tree(&source.join("tasks"), &test.path("tasks"), &|_| false);
    copy_tree(&source.join(EXAMPLE), &test.path(EXAMPLE), &generated);
    commit(&test);
    test
}

/// The warmed template: a copy after one cold `gate run all`, and that run's output.
struct Warm {
    dir: PathBuf,
    cold: Output,
}

fn warm() -> &'static Warm {
    static WARM: OnceLock<Warm> = OnceLock::new();
    WARM.get_or_init(|| {
        let test = fresh();
        let cold = test.run(&["run", "all"]);
        // Kept for the rest of this process under target/tmp; stale ones from runs that are
        // gone are removed.
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("ml-repo-warm-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("ml-repo-warm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_tree(test.root(), &dir, &|name| name == ".git");
        Warm { dir, cold }
    })
}

/// A copy of the warmed template: the cache and artifacts of one passing `gate run all`.
fn warmed() -> Test {
    let template = warm();
    let test = repository();
    copy_tree(&template.dir, test.root(), &|name| name == ".git");
    commit(&test);
    test
}

/// The gates (groups aside) that ran, and passed, in a run.
fn ran(output: &Output) -> BTreeSet<String> {
    statuses(output)
        .into_iter()
        .filter(|(gate, status)| status == "passed" && !GROUPS.contains(&gate.as_str()))
        .map(|(gate, _)| gate)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn run_all_passes_with_trivy_and_pip_audit_skipped_and_strict_fails_for_trivy() {
    if !have_tools() {
        return;
    }
    let cold = &warm().cold;
    cold.status(0);
    let found = statuses(cold);
    for gate in CI_GATES {
        assert_eq!(
            found.get(*gate).map(String::as_str),
            Some("passed"),
            "{gate}\n{}",
            cold.stdout
        );
    }
    cold.stdout_has("missing tool trivy")
        .stdout_has("condition (env GATE_AUDIT is not \"1\")");
    assert_eq!(found["trivy"], "skipped");
    assert_eq!(found["pip-audit"], "skipped");
    // `fix` rewrites the tree: it is in no group, so `all` never runs it.
    assert!(!found.contains_key("fix"), "{}", cold.stdout);

    let test = warmed();
    // Opted in, pip-audit needs its tool (left out of the requirements on purpose).
    let opted = test.run(&["run", "pip-audit"]);
    opted.status(0).stdout_has("condition");
    if which::which("pip-audit").is_err() {
        let test = warmed().env("GATE_AUDIT", "1");
        test.run(&["run", "pip-audit"])
            .status(0)
            .stdout_has("missing tool pip-audit");
    }
    let strict = test.run(&["run", "all", "--strict"]);
    strict.status(1);
    assert!(
        format!("{}{}", strict.stdout, strict.stderr).contains("trivy"),
        "{}\n{}",
        strict.stdout,
        strict.stderr
    );
}

#[test]
fn a_second_run_is_fully_cached_and_restores_every_output() {
    if !have_tools() {
        return;
    }
    let template = warm();
    let test = warmed();
    std::fs::remove_dir_all(test.path(&format!("{EXAMPLE}/artifacts"))).expect("remove artifacts");
    let output = test.run(&["run", "all"]);
    output.status(0);
    let found = statuses(&output);
    for gate in CI_GATES {
        assert_eq!(found[*gate], "cached", "{gate}\n{}", output.stdout);
    }
    assert!(ran(&output).is_empty(), "{}", output.stdout);
    // Every artifact is back, byte for byte.
    let before = template.dir.join(EXAMPLE).join("artifacts");
    let after = test.path(&format!("{EXAMPLE}/artifacts"));
    let relative = |root: &Path| -> Vec<PathBuf> {
        files_under(root)
            .into_iter()
            .map(|p| p.strip_prefix(root).expect("under the root").to_path_buf())
            .collect()
    };
    let expected = relative(&before);
    assert!(
        expected.len() >= 10,
        "the run produced its outputs: {expected:?}"
    );
    assert_eq!(relative(&after), expected);
    for file in &expected {
        assert_eq!(
            std::fs::read(after.join(file)).expect("restored"),
            std::fs::read(before.join(file)).expect("produced"),
            "{}",
            file.display()
        );
    }
    for wanted in [
        "test/junit.xml",
        "test/.coverage",
        "coverage/coverage.xml",
        "train/summary.json",
        "train/metrics.ndjson",
        "train/checkpoints/epoch-0030.npz",
        "audit/report.md",
        "audit/manifest.json",
    ] {
        assert!(expected.contains(&PathBuf::from(wanted)), "{wanted}");
    }
}

#[test]
fn editing_a_test_file_reruns_only_the_gates_that_read_tests() {
    if !have_tools() {
        return;
    }
    let test = warmed();
    let file = format!("{EXAMPLE}/tests/test_model.py");
    let mut text = test.read(&file);
    text.push_str(
        "\n\ndef test_three_samples_make_a_dataset_of_three() -> None:\n    \
         assert len(make_blobs(3, 2, seed=1)) == 3\n",
    );
    test.write(&file, text.as_bytes());
    let output = test.run(&["run", "all"]);
    output.status(0);
    // test and coverage; the audit stages (S1 indexes tests/, and each stage after it is
    // built from the one before); and the two checks that read tests/ too: ruff (lint)
    // and detect-secrets. Nothing else: not typecheck, bandit, semgrep, hadolint or
    // train-smoke.
    assert_eq!(
        ran(&output),
        set(&[
            "audit.s1", "audit.s2", "audit.s3", "audit.s4", "audit.s5", "audit.s6", "audit.s7",
            "coverage", "lint", "secrets", "test",
        ]),
        "{}",
        output.stdout
    );
    let found = statuses(&output);
    for gate in ["typecheck", "bandit", "semgrep", "hadolint", "train-smoke"] {
        assert_eq!(found[gate], "cached", "{gate}");
    }
}

#[test]
fn a_lint_error_fails_lint_with_ruffs_message() {
    if !have_tools() {
        return;
    }
    let test = warmed();
    test.write(&format!("{EXAMPLE}/src/tinyml/unused.py"), b"import os\n");
    let output = test.run(&["run", "lint"]);
    output
        .status(1)
        .stdout_has("failed  lint")
        .stdout_has("F401")
        .stdout_has("`os` imported but unused")
        .stdout_has("src/tinyml/unused.py:1:8");
    // lint only reports: the file is as it was.
    assert_eq!(
        test.read(&format!("{EXAMPLE}/src/tinyml/unused.py")),
        "import os\n"
    );
}

#[test]
fn a_gate_that_runs_ruff_fix_is_caught_modifying_its_inputs() {
    if !have_tools() {
        return;
    }
    let test = warmed();
    let gates = format!("{EXAMPLE}/gates.kdl");
    let mut text = test.read(&gates);
    text.push_str(
        "\n// What a noxfile's lint session often does.\n\
         gate \"lint-and-fix\" {\n    requires \"ruff\"\n    \
         run \"ruff check --fix --quiet src\"\n    inputs \"src/**/*.py\"\n}\n",
    );
    test.write(&gates, text.as_bytes());
    test.write(&format!("{EXAMPLE}/src/tinyml/unused.py"), b"import os\n");
    test.run(&["run", "lint-and-fix"])
        .status(1)
        .stdout_has("failed  lint-and-fix")
        .stdout_has("changed its own inputs: src/tinyml/unused.py");
    // The preset's own fix gate may: it says `fix #true`.
    test.write(&format!("{EXAMPLE}/src/tinyml/unused.py"), b"import os\n");
    test.run(&["run", "fix"])
        .status(0)
        .stdout_has("passed  fix");
    assert_eq!(test.read(&format!("{EXAMPLE}/src/tinyml/unused.py")), "");
}

#[test]
fn code_below_the_coverage_floor_fails_coverage_only() {
    if !have_tools() {
        return;
    }
    let test = warmed();
    // Clean, typed, untested code: every check but the floor still passes.
    let mut module = String::from("\"\"\"Helpers nothing tests yet.\"\"\"\n");
    for i in 0..8 {
        module.push_str(&format!(
            "\n\ndef clip_{i}(value: float, low: float, high: float) -> float:\n    \
             \"\"\"`value` limited to [low, high].\"\"\"\n    \
             if low > high:\n        raise ValueError(\"low > high\")\n    \
             if value < low:\n        return low\n    \
             if value > high:\n        return high\n    \
             return value\n"
        ));
    }
    test.write(&format!("{EXAMPLE}/src/tinyml/extra.py"), module.as_bytes());
    let output = test.run(&["run", "all"]);
    output.status(1);
    let failed: BTreeSet<String> = statuses(&output)
        .into_iter()
        .filter(|(gate, status)| {
            status != "passed" && status != "cached" && status != "skipped"
                || (status == "skipped" && gate != "trivy" && gate != "pip-audit")
        })
        .map(|(gate, status)| format!("{gate} {status}"))
        .collect();
    assert_eq!(
        failed,
        ["all failed", "ci failed", "coverage failed"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        "{}",
        output.stdout
    );
    output
        .stdout_has("src/tinyml/extra.py")
        .stdout_has("Coverage failure: total of");
}

#[test]
fn a_stub_numpy_at_the_root_fails_train_smoke() {
    if !have_tools() {
        return;
    }
    let test = warmed();
    test.write(
        &format!("{EXAMPLE}/numpy/__init__.py"),
        b"\"\"\"A stub that shadows the real numpy.\"\"\"\n__version__ = \"0.0\"\n",
    );
    test.run(&["run", "train-smoke"])
        .status(1)
        .stdout_has("failed  train-smoke")
        .stdout_has("numpy/__init__.py: not the installed package");
}

#[test]
fn the_audit_stages_run_in_order_and_only_what_an_edit_reaches() {
    if !have_tools() {
        return;
    }
    let test = fresh();
    // audit.py itself refuses to render from nothing, naming what is missing.
    let direct = Command::new("python")
        .args(["audit/audit.py", "s6"])
        .current_dir(test.path(EXAMPLE))
        .output()
        .expect("python runs");
    assert_eq!(direct.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&direct.stderr)
            .contains("S6 render needs artifacts/audit/s5-gaps.json (stage S5)"),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );

    // S6 alone on a clean checkout runs S1..S6, and nothing else.
    let first = test.run(&["run", "audit.s6"]);
    first.status(0);
    let stages =
        |n: usize| -> BTreeSet<String> { (1..=n).map(|i| format!("audit.s{i}")).collect() };
    assert_eq!(ran(&first), stages(6), "{}", first.stdout);
    assert_eq!(statuses(&first).len(), 6, "{}", first.stdout);
    assert!(
        test.path(&format!("{EXAMPLE}/artifacts/audit/report.md"))
            .is_file()
    );
    assert!(
        !test
            .path(&format!("{EXAMPLE}/artifacts/audit/manifest.json"))
            .exists()
    );

    // S7 after it: S1..S6 are restored, S7 runs and checks the chain.
    let seventh = test.run(&["run", "audit.s7"]);
    seventh.status(0);
    assert_eq!(ran(&seventh), set(&["audit.s7"]), "{}", seventh.stdout);

    // The rules file is read by S3 only: S1 and S2 are restored, S3 and what is built from
    // it run (a dependency's key is part of its dependents' keys).
    let rules = format!("{EXAMPLE}/semgrep/rules.yml");
    let mut text = test.read(&rules);
    text.push_str("# reviewed\n");
    test.write(&rules, text.as_bytes());
    let edited = test.run(&["run", "audit.s7"]);
    edited.status(0);
    assert_eq!(
        ran(&edited),
        set(&["audit.s3", "audit.s4", "audit.s5", "audit.s6", "audit.s7"]),
        "{}",
        edited.stdout
    );
    let found = statuses(&edited);
    assert_eq!(
        (found["audit.s1"].as_str(), found["audit.s2"].as_str()),
        ("cached", "cached")
    );

    // A source edit reaches S1 and so every stage after it.
    let source = format!("{EXAMPLE}/src/tinyml/__init__.py");
    let mut text = test.read(&source);
    text.push_str("# edited\n");
    test.write(&source, text.as_bytes());
    let reached = test.run(&["run", "audit.s7"]);
    reached.status(0);
    assert_eq!(ran(&reached), stages(7), "{}", reached.stdout);
}

#[test]
fn release_builds_the_docs_and_a_wheel_whose_command_runs() {
    if !have_tools() || which::which("pdoc").is_err() {
        return;
    }
    let test = warmed();
    let output = test.run(&["run", "release", "-v"]);
    output.status(0);
    let found = statuses(&output);
    assert_eq!(
        (found["docs"].as_str(), found["package"].as_str()),
        ("passed", "passed")
    );
    // The wheel was installed offline into a temporary directory and its script ran.
    output.stdout_has("tinyml 0.3.0");
    let dist = test.path(&format!("{EXAMPLE}/artifacts/dist"));
    assert!(dist.join("tinyml-0.3.0-py3-none-any.whl").is_file());
    assert!(
        test.path(&format!("{EXAMPLE}/artifacts/docs/tinyml.html"))
            .is_file()
    );
    // The build leaves nothing in the tree but its outputs.
    assert!(!test.path(&format!("{EXAMPLE}/build")).exists());
    assert!(
        !test
            .path(&format!("{EXAMPLE}/src/tinyml.egg-info"))
            .exists()
    );
}
