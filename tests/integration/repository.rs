//! The repository's own graphs: gate's gates.kdl (gate gates itself) and every example must
//! pass `gate check`, and the basics example must run as its comments say.

use std::path::Path;
use std::process::Command;

fn check(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gate"))
        .arg("check")
        .current_dir(dir)
        .output()
        .expect("gate runs")
}

#[test]
fn our_own_gates_kdl_and_every_example_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.to_path_buf()];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.join("gates.kdl").is_file() {
            dirs.push(path);
        }
    }
    assert!(dirs.len() > 1, "examples/ has graphs");
    for dir in dirs {
        let output = check(&dir);
        assert!(
            output.status.success(),
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_ci_group_holds_the_four_rust_gates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_gate"))
        .args(["list", "--json"])
        .current_dir(root)
        .output()
        .unwrap();
    let gates: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ci = gates
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "ci")
        .expect("a ci gate");
    assert_eq!(
        ci["deps"],
        serde_json::json!(["rust.clippy", "rust.doc", "rust.fmt", "rust.test"])
    );
}

#[test]
fn the_basics_example_runs_as_documented() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basics/gates.kdl");
    // The example shows hadolint missing; .ci/run installs it for the ML example's tests, so
    // it is taken off PATH here.
    let test = crate::test::Test::new()
        .env("PATH", &path_without("hadolint"))
        .file("gates.kdl", &std::fs::read_to_string(source).unwrap());
    let output = test.run(&["run"]);
    output
        .status(0)
        .stdout_has("skipped  audit       condition (env GATE_AUDIT is not \"1\")");
    output
        .stdout_has("failed  flaky-docs  [T]  exit code 1 (optional)")
        .stdout_has("passed  ci");
    assert_eq!(test.read("artifacts/report.txt"), "ok\n");
    // hadolint is not on PATH here; --strict turns its skip into a failure.
    test.run(&["run", "--strict"])
        .status(1)
        .stdout_has("strict: a missing tool is a failure: hadolint");
}

/// This process's PATH without the directories that hold `tool`.
fn path_without(tool: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let kept: Vec<_> = std::env::split_paths(&path)
        .filter(|dir| !dir.join(tool).exists())
        .collect();
    std::env::join_paths(kept)
        .expect("PATH entries join")
        .to_string_lossy()
        .into_owned()
}

/// Validates `instance` against a schema file of `schemas/` with a real JSON Schema validator.
pub fn assert_valid(schema: &str, instance: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator =
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} rejects the output:\n{}",
        path.display(),
        errors.join("\n")
    );
}

#[test]
fn list_and_graph_json_match_their_schemas() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basics/gates.kdl");
    let test =
        crate::test::Test::new().file("gates.kdl", &std::fs::read_to_string(source).unwrap());
    let list: serde_json::Value =
        serde_json::from_str(&test.run(&["list", "--json"]).stdout).unwrap();
    assert_valid("list.schema.json", &list);
    let graph: serde_json::Value =
        serde_json::from_str(&test.run(&["graph", "--format", "json"]).stdout).unwrap();
    assert_valid("graph.schema.json", &graph);
    // The validator is real: a wrong type is caught.
    let mut broken = list.clone();
    broken[0]["line"] = serde_json::json!("one");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/list.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        !jsonschema::draft202012::new(&schema)
            .unwrap()
            .is_valid(&broken)
    );
}
