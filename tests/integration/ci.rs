//! CI parity (issue 5): `--ci` and `CI=true` (strict, plain output), `--no-ci`, `--shard K/N`
//! (the union of the shards' owned gates is the whole selection, no gate twice; dependencies
//! come from the cache; bad specs exit 2), the manifest's `invocation.ci` and
//! `invocation.shard`, and `gate ci github` (the workflow parses as YAML, has the expected
//! jobs and steps, and its run command works).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::test::Test;

fn manifest(test: &Test) -> Value {
    serde_json::from_str(&test.read(".gate/runs/latest/manifest.json")).expect("JSON")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

const MISSING_TOOL: &str = r#"
gate "tool" {
    requires "no-such-tool-for-gate-ci-tests"
    run "no-such-tool-for-gate-ci-tests"
}
gate "fine" { run "echo fine" }
"#;

#[test]
fn ci_mode_is_strict_and_recorded() {
    let test = Test::new().gates(MISSING_TOOL);
    test.run(&["run", "all"]).status(0);
    assert_eq!(manifest(&test)["invocation"]["ci"], false);

    test.run(&["run", "all", "--ci"])
        .status(1)
        .stdout_has("strict: a missing tool is a failure: tool");
    let record = manifest(&test);
    assert_eq!(record["invocation"]["ci"], true);
    assert_eq!(record["invocation"]["strict"], true);
    assert_eq!(record["invocation"]["shard"], Value::Null);
}

#[test]
fn ci_env_implies_ci_mode_and_no_ci_overrides_it() {
    for value in ["true", "1", "TRUE"] {
        let test = Test::new().gates(MISSING_TOOL).env("CI", value);
        test.run(&["run", "all"]).status(1);
        assert_eq!(manifest(&test)["invocation"]["ci"], true, "CI={value}");
        test.run(&["run", "all", "--no-ci"]).status(0);
        let record = manifest(&test);
        assert_eq!(record["invocation"]["ci"], false);
        assert_eq!(record["invocation"]["strict"], false);
    }
    let test = Test::new().gates(MISSING_TOOL).env("CI", "false");
    test.run(&["run", "all"]).status(0);
    assert_eq!(manifest(&test)["invocation"]["ci"], false);
}

#[test]
fn ci_output_has_no_colour_even_when_forced() {
    let test = Test::new()
        .gates(r#"gate "bad" { run "echo broken; exit 3" }"#)
        .env("CLICOLOR_FORCE", "1");
    let coloured = test.run(&["run", "--no-ci"]);
    coloured.status(1);
    assert!(
        coloured.stdout.contains('\u{1b}') || coloured.stderr.contains('\u{1b}'),
        "CLICOLOR_FORCE=1 should colour a plain run (else this test shows nothing):\n{}",
        coloured.stdout
    );
    let plain = test.run(&["run", "--ci"]);
    plain.status(1).stdout_has("failed  bad");
    assert!(!plain.stdout.contains('\u{1b}'), "{:?}", plain.stdout);
    assert!(!plain.stderr.contains('\u{1b}'), "{:?}", plain.stderr);
}

/// Ten gates in a small web of dependencies, a group, and a skipped gate.
const WEB: &str = r#"
gate "a" { run "echo a" }
gate "b" { run "echo b"; deps "a" }
gate "c" { run "echo c"; deps "a" }
gate "d" { run "echo d"; deps "b" "c" }
gate "e" { run "echo e" }
gate "f" { run "echo f"; deps "e" }
gate "g" { run "echo g"; deps "f" "d" }
gate "h" { run "echo h" }
gate "lint.x" { run "echo x" }
gate "tool" { requires "no-such-tool-for-gate-ci-tests"; run "x" }
gate "everything" { deps "g" "h" "lint.x" "tool" }
"#;

#[test]
fn shards_split_the_selection_with_no_gate_twice() {
    let test = Test::new().gates(WEB);
    let gates: BTreeSet<String> = ["a", "b", "c", "d", "e", "f", "g", "h", "lint.x", "tool"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for count in 1..=6u32 {
        let mut owned_by_all: Vec<String> = Vec::new();
        for index in 1..=count {
            let spec = format!("{index}/{count}");
            let output = test.run(&["run", "everything", "--shard", &spec]);
            output.status(0);
            let record = manifest(&test);
            let shard = &record["invocation"]["shard"];
            assert_eq!(shard["index"], index);
            assert_eq!(shard["count"], count);
            let owned = strings(&shard["owned"]);
            let line = if owned.is_empty() {
                format!("shard {spec}: owns no gate (0 of 10)\n")
            } else {
                format!(
                    "shard {spec}: owns {} ({} of 10)\n",
                    owned.join(", "),
                    owned.len()
                )
            };
            assert!(output.stdout.starts_with(&line), "{}", output.stdout);
            // A shard runs what it owns and their dependencies, nothing else.
            let selected: BTreeSet<String> = strings(&record["invocation"]["selected"])
                .into_iter()
                .collect();
            for gate in &owned {
                assert!(selected.contains(gate), "{spec}: {gate} not run");
            }
            assert!(
                !selected.contains("everything"),
                "groups are owned by no shard"
            );
            if owned.iter().any(|g| g == "g") {
                for dep in ["a", "b", "c", "d", "e", "f"] {
                    assert!(selected.contains(dep), "{spec}: g's dependency {dep}");
                }
            }
            if !owned.iter().any(|g| g == "g") && !owned.iter().any(|g| g == "d") {
                assert!(!selected.contains("g"), "{spec} runs g without owning it");
            }
            owned_by_all.extend(owned);
        }
        let unique: BTreeSet<String> = owned_by_all.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            owned_by_all.len(),
            "N={count}: a gate owned twice"
        );
        assert_eq!(unique, gates, "N={count}: the union is the whole selection");
    }
}

#[test]
fn shards_agree_between_runs_and_ci_strictness_applies() {
    let test = Test::new().gates(WEB);
    let owner = |test: &Test| -> Vec<Vec<String>> {
        (1..=3)
            .map(|k| {
                test.run(&["run", "everything", "--shard", &format!("{k}/3")]);
                strings(&manifest(test)["invocation"]["shard"]["owned"])
            })
            .collect()
    };
    let first = owner(&test);
    assert_eq!(first, owner(&test));
    // The shard that owns the gate with a missing tool fails in CI mode; the others pass.
    for k in 1..=3 {
        let owns_tool = first[k - 1].iter().any(|g| g == "tool");
        let output = test.run(&["run", "everything", "--ci", "--shard", &format!("{k}/3")]);
        output.status(if owns_tool { 1 } else { 0 });
    }
}

#[test]
fn a_shard_restores_what_another_shard_ran() {
    let test = Test::new()
        .gates(
            r#"
gate "build" {
    run "echo built >> runs.log; echo out > out.txt"
    inputs "src/*"
    outputs "out.txt"
}
gate "t1" { run "cat out.txt"; deps "build"; inputs "src/*" }
gate "t2" { run "cat out.txt"; deps "build"; inputs "src/*" }
gate "t3" { run "cat out.txt"; deps "build"; inputs "src/*" }
gate "t4" { run "cat out.txt"; deps "build"; inputs "src/*" }
"#,
        )
        .file("src/a.txt", "a\n");
    let mut statuses = Vec::new();
    for k in 1..=4 {
        test.run(&["run", "all", "--shard", &format!("{k}/4")])
            .status(0);
        let record = manifest(&test);
        if let Some(build) = record["execution"].get("build") {
            statuses.push(build["status"].as_str().expect("a status").to_owned());
        }
    }
    // Every shard that needed `build` had it; it ran once, the others restored it.
    assert_eq!(test.read("runs.log"), "built\n", "build ran more than once");
    assert_eq!(statuses[0], "passed");
    assert!(statuses[1..].iter().all(|s| s == "cached"), "{statuses:?}");
}

#[test]
fn an_attestation_says_which_shard_it_covers() {
    let test = Test::new().gates(
        r#"
gate "one" { run "echo 1 > one.txt"; outputs "one.txt" }
gate "two" { run "echo 2 > two.txt"; outputs "two.txt" }
gate "three" { run "echo 3 > three.txt"; outputs "three.txt" }
gate "four" { run "echo 4 > four.txt"; outputs "four.txt" }
"#,
    );
    // Gates that write outputs, so there is something to attest: one shard of two owns some.
    let index = (1..=2)
        .find(|k| {
            test.run(&["run", "all", "--ci", "--shard", &format!("{k}/2")])
                .status(0);
            !strings(&manifest(&test)["invocation"]["shard"]["owned"]).is_empty()
        })
        .expect("a shard owns a gate");
    let owned = manifest(&test)["invocation"]["shard"]["owned"].clone();
    let output = test.run(&["attest"]);
    output.status(0);
    let statement: Value = serde_json::from_str(&output.stdout).expect("JSON");
    let external = &statement["predicate"]["buildDefinition"]["externalParameters"];
    assert_eq!(external["ci"], true);
    assert_eq!(external["shard"]["index"], index);
    assert_eq!(external["shard"]["count"], 2);
    assert_eq!(external["shard"]["owned"], owned);
    test.run(&["verify"]).status(0);
}

#[test]
fn bad_shard_specs_exit_2_and_say_why() {
    let test = Test::new().gates(WEB);
    for (spec, says) in [
        ("0/3", "K must be between 1 and N"),
        ("4/3", "K must be between 1 and N"),
        ("1/0", "N must be at least 1"),
        ("x/3", "is not K/N"),
        ("2", "is not K/N"),
        ("", "is not K/N"),
    ] {
        let output = test.run(&["run", "--shard", spec]);
        output.status(2).stderr_has(says);
        assert!(output.stdout.is_empty(), "{spec}: ran something");
    }
    assert!(
        !test.path(".gate/runs").exists(),
        "a bad spec started a run"
    );
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("not YAML: {e}\n{text}"))
}

fn step<'a>(steps: &'a [Value], uses: &str) -> &'a Value {
    steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(uses)))
        .unwrap_or_else(|| panic!("no step uses {uses}"))
}

#[test]
fn github_workflow_parses_and_runs_the_target() {
    let test = Test::new()
        .gates(
            r#"
default "ci"
gate "lint" { run "echo lint"; inputs "src/*" }
gate "test" { run "echo test"; inputs "src/*" }
gate "ci" { deps "lint" "test" }
"#,
        )
        .file("src/a.txt", "a\n");
    let output = test.run(&["ci", "github", "ci", "--shards", "3"]);
    output.status(0);
    let workflow = yaml(&output.stdout);
    let job = &workflow["jobs"]["gate"];
    assert_eq!(job["runs-on"], "ubuntu-latest");
    assert_eq!(
        job["strategy"]["matrix"]["shard"],
        serde_json::json!([1, 2, 3])
    );
    let steps = job["steps"].as_array().expect("steps");
    step(steps, "actions/checkout@");
    let cache = steps
        .iter()
        .find(|s| s["name"] == "Restore and save the gate cache")
        .expect("a cache step");
    assert!(
        cache["uses"]
            .as_str()
            .is_some_and(|u| u.starts_with("actions/cache@"))
    );
    assert_eq!(cache["with"]["path"], ".gate/cache");
    let key = cache["with"]["key"].as_str().expect("a key");
    assert!(
        key.contains("hashFiles(") && key.contains("runner.os"),
        "{key}"
    );
    assert!(cache["with"]["restore-keys"].as_str().is_some());
    let upload = step(steps, "actions/upload-artifact@");
    assert_eq!(upload["if"], "always()");
    let paths = upload["with"]["path"].as_str().expect("paths");
    assert!(paths.contains(".gate/runs/latest/") && paths.contains("gate-junit.xml"));
    let install = steps
        .iter()
        .find(|s| s["name"] == "Install gate")
        .expect("an install step");
    assert_eq!(
        install["run"],
        "command -v gate >/dev/null || cargo install --locked --git https://example.invalid/gate gate\n"
    );
    let binary = steps
        .iter()
        .find(|s| s["name"] == "Cache the gate binary")
        .expect("the binary is cached");
    assert_eq!(binary["with"]["path"], "~/.cargo/bin/gate");
    assert!(
        output.stdout.contains("names no real repository"),
        "the placeholder repository is called out"
    );
    let run = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.starts_with("gate run"))
        .expect("a gate run step");
    assert_eq!(
        run,
        "gate run --ci ci --shard ${{ matrix.shard }}/3 --junit gate-junit.xml"
    );

    // The command runs as the workflow would run it, shard by shard, gate on PATH.
    let bin = Path::new(env!("CARGO_BIN_EXE_gate"))
        .parent()
        .expect("a directory");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut owned = Vec::new();
    for k in 1..=3 {
        let line = run.replace("${{ matrix.shard }}", &k.to_string());
        let status = std::process::Command::new("sh")
            .args(["-c", &line])
            .current_dir(test.root())
            .env("PATH", &path)
            .env("CI", "true")
            .status()
            .expect("sh runs");
        assert!(status.success(), "{line}");
        assert!(test.path("gate-junit.xml").exists());
        owned.extend(strings(&manifest(&test)["invocation"]["shard"]["owned"]));
    }
    owned.sort();
    assert_eq!(owned, ["lint", "test"]);
}

#[test]
fn github_workflow_without_shards_with_install_commands() {
    let test = Test::new().gates(r#"gate "fast" { run "true" }"#);
    let output = test.run(&[
        "ci",
        "github",
        "--install",
        "curl -fsSL https://example.com/install.sh | sh",
        "--install",
        "echo \"$HOME/.local/bin\" >> \"$GITHUB_PATH\"",
    ]);
    output.status(0);
    let workflow = yaml(&output.stdout);
    let job = &workflow["jobs"]["gate"];
    assert!(job.get("strategy").is_none(), "no matrix for one shard");
    let steps = job["steps"].as_array().expect("steps");
    let install = steps
        .iter()
        .find(|s| s["name"] == "Install gate")
        .expect("an install step");
    assert_eq!(
        install["run"],
        "curl -fsSL https://example.com/install.sh | sh\necho \"$HOME/.local/bin\" >> \"$GITHUB_PATH\"\n"
    );
    assert!(!output.stdout.contains("cargo install"));
    assert!(!output.stdout.contains("Cache the gate binary"));
    let run: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    assert!(
        run.contains(&"gate run --ci --junit gate-junit.xml"),
        "{run:?}"
    );

    test.run(&["ci", "github", "fsat"])
        .status(2)
        .stderr_has("unknown target `fsat`");
    test.run(&["ci", "github", "--shards", "0"]).status(2);
}

/// Runs gate under a pseudo-terminal (util-linux `script`), so it sees a terminal.
fn on_a_terminal(test: &Test, args: &str, env: &[(&str, &str)]) -> Option<String> {
    let script = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("script"))
        .find(|path| path.is_file());
    let Some(script) = script else {
        assert!(
            std::env::var_os("GATE_E2E").is_none_or(|v| v != "1"),
            "GATE_E2E=1 but `script` (util-linux) is not installed"
        );
        eprintln!("skipped: `script` is not installed (GATE_E2E=1 makes this a failure)");
        return None;
    };
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_gate"));
    let mut run = std::process::Command::new(script);
    run.args(["-qec", &command, "/dev/null"])
        .current_dir(test.root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", test.root())
        .env("TERM", "xterm-256color")
        .stdin(std::process::Stdio::null());
    for (name, value) in env {
        run.env(name, value);
    }
    let output = run.output().expect("script runs");
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn ci_mode_on_a_terminal_has_no_live_view_or_colour() {
    let test = Test::new().gates(
        r#"
gate "slow" { run "echo slow; sleep 0.2" }
gate "bad" { run "echo broken; exit 1" }
"#,
    );
    let Some(terminal) = on_a_terminal(&test, "run", &[]) else {
        return;
    };
    assert!(
        terminal.contains('\u{1b}'),
        "a terminal run should be live and coloured (else this test shows nothing):\n{terminal:?}"
    );
    for (args, env) in [("run --ci", &[][..]), ("run", &[("CI", "true")][..])] {
        let plain = on_a_terminal(&test, args, env).expect("script is here");
        assert!(!plain.contains('\u{1b}'), "{args} {env:?}: {plain:?}");
        assert!(plain.contains("failed  bad"), "{plain}");
    }
}
