//! The run record: every run writes `.gate/runs/<run>/manifest.json`, which validates against
//! `schemas/manifest.schema.json`, separates the result (identical whether gates ran or were
//! restored) from how it came about, links the previous run's digest, and `gate verify`
//! detects any edit to it and any drift of the outputs it records. Nothing secret is written.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cache::files_under;
use crate::test::Test;

const GITIGNORE: &str = "out/\n";

/// Three gates that pass (one writes outputs), one that fails, one skipped for a missing tool,
/// one blocked behind the failure, and a group.
const GATES: &str = r#"
gate "build" {
    inputs "src/**"
    outputs "out/**"
    env MODE="fast"
    run "mkdir -p out/bin && cat src/*.txt > out/all.txt && printf '#!/bin/sh\n' > out/bin/tool && chmod 755 out/bin/tool"
}
gate "check" {
    deps "build"
    inputs "src/**" "out/all.txt"
    run "grep -q hello out/all.txt"
}
gate "broken" {
    inputs "src/**"
    optional #true
    run "echo 'something went wrong' && exit 3"
}
gate "audit" {
    requires "no-such-tool-anywhere"
    run "true"
}
gate "all" { deps "build" "check" "broken" "audit" }
"#;

fn repository() -> Test {
    Test::new()
        .file(".gitignore", GITIGNORE)
        .gates(GATES)
        .file("src/a.txt", "hello\n")
        .file("src/b.txt", "world\n")
}

fn latest(test: &Test) -> PathBuf {
    test.path(".gate/runs/latest/manifest.json")
}

fn json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()))
}

/// Validates a manifest against the committed schema with a real validator.
#[track_caller]
fn validate(manifest: &Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/manifest.schema.json");
    let schema = json(&schema_path);
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(manifest)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
}

/// Runs gate and returns the manifest the run wrote, validated.
#[track_caller]
fn run(test: &Test, args: &[&str], status: i32) -> Value {
    test.run(args).status(status);
    let manifest = json(&latest(test));
    validate(&manifest);
    manifest
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is a string in {value:#}"))
}

fn rehash(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).expect("read a file"))
        .to_hex()
        .to_string()
}

#[test]
fn every_run_writes_a_manifest_that_records_each_gate() {
    let test = repository();
    let manifest = run(&test, &["run", "all"], 0);
    let gates = &manifest["result"]["gates"];
    let outcomes: Vec<(&str, &str)> = ["all", "audit", "broken", "build", "check"]
        .into_iter()
        .map(|g| (g, text(gates, &format!("/{g}/outcome"))))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("all", "passed"),
            ("audit", "skipped"),
            ("broken", "failed"),
            ("build", "passed"),
            ("check", "passed"),
        ]
    );
    assert_eq!(
        text(gates, "/audit/reason"),
        "missing tool no-such-tool-anywhere"
    );
    assert_eq!(text(gates, "/broken/reason"), "exit code 3");
    assert_eq!(gates["broken"]["exit"], 3);
    assert_eq!(gates["build"]["exit"], 0);
    assert_eq!(
        manifest["result"]["outcome"], "passed",
        "broken is optional"
    );

    // Outputs: path, size, mode and blake3 as on disk, sorted by path.
    let outputs = gates["build"]["outputs"].as_array().expect("outputs");
    let paths: Vec<&str> = outputs.iter().map(|o| text(o, "/path")).collect();
    assert_eq!(paths, ["out/all.txt", "out/bin/tool"]);
    assert_eq!(outputs[0]["size"], 12);
    assert_eq!(outputs[0]["mode"], 0o644);
    assert_eq!(outputs[1]["mode"], 0o755);
    assert_eq!(
        text(&outputs[0], "/blake3"),
        rehash(&test.path("out/all.txt"))
    );

    // Inputs: a count and the digest of the list kept beside the runs.
    let inputs = &gates["check"]["inputs"];
    assert_eq!(inputs["count"], 3, "src/a.txt, src/b.txt and out/all.txt");
    let list = test.path(&format!(
        ".gate/runs/inputs/{}.json",
        text(inputs, "/digest")
    ));
    assert_eq!(rehash(&list), text(inputs, "/digest"));
    let listed: Vec<Value> = serde_json::from_slice(&std::fs::read(&list).unwrap()).unwrap();
    let listed: Vec<&str> = listed.iter().map(|i| text(i, "/path")).collect();
    assert_eq!(listed, ["out/all.txt", "src/a.txt", "src/b.txt"]);

    // How it came about, apart from the result.
    let execution = &manifest["execution"];
    assert_eq!(execution["build"]["cache"], "miss");
    assert_eq!(execution["audit"]["cache"], "off");
    assert!(execution["broken"]["log"]["blake3"].is_string());
    let kept = test.path(&format!(
        ".gate/runs/{}/logs/broken.log",
        text(&manifest, "/run/id")
    ));
    assert!(
        std::fs::read_to_string(&kept)
            .unwrap_or_default()
            .contains("something went wrong"),
        "a failed gate's log tail is kept with its run"
    );
    assert_eq!(
        manifest["invocation"]["targets"],
        serde_json::json!(["all"])
    );
    assert_eq!(manifest["producer"]["name"], "gate");
    assert_eq!(manifest["previous"], Value::Null);
    test.run(&["verify"]).status(0).stdout_has("verified: ");
}

#[test]
fn the_result_digest_is_the_same_cold_and_cached_and_changes_with_one_input_byte() {
    let test = repository();
    let cold = run(&test, &["run", "build", "check"], 0);
    let cached = run(&test, &["run", "build", "check"], 0);
    assert_eq!(cached["execution"]["build"]["status"], "cached");
    assert_eq!(cached["execution"]["check"]["cache"], "hit");
    assert_eq!(
        cached["execution"]["build"]["produced_by"], cold["run"]["id"],
        "a restore names the run that produced it"
    );
    assert_eq!(cold["result"], cached["result"]);
    assert_eq!(cold["result_digest"], cached["result_digest"]);
    assert_ne!(
        cold["digest"], cached["digest"],
        "the runs themselves differ"
    );

    // Running everything again instead of restoring establishes the same result.
    let rerun = run(&test, &["run", "build", "check", "--no-cache"], 0);
    assert_eq!(rerun["execution"]["build"]["status"], "passed");
    assert_eq!(rerun["result_digest"], cold["result_digest"]);

    test.write("src/b.txt", b"worle\n");
    let changed = run(&test, &["run", "build", "check"], 0);
    assert_ne!(changed["result_digest"], cold["result_digest"]);
    assert_ne!(
        changed["result"]["gates"]["build"]["inputs"]["digest"],
        cold["result"]["gates"]["build"]["inputs"]["digest"]
    );
}

#[test]
fn runs_form_a_hash_chain_that_verify_walks() {
    let test = repository();
    let first = run(&test, &["run", "build"], 0);
    let second = run(&test, &["run", "build"], 0);
    let third = run(&test, &["run", "build"], 0);
    assert_eq!(second["previous"]["run"], first["run"]["id"]);
    assert_eq!(second["previous"]["digest"], first["digest"]);
    assert_eq!(third["previous"]["run"], second["run"]["id"]);
    test.run(&["verify"])
        .status(0)
        .stdout_has("chain: 2 earlier run(s) link up");

    // Editing an earlier manifest breaks the link to it, even when its own digest is redone.
    let path = test.path(&format!(
        ".gate/runs/{}/manifest.json",
        text(&first, "/run/id")
    ));
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"outcome\": \"passed\"", "\"outcome\": \"failed\"");
    let mut value: Value = serde_json::from_str(&edited).unwrap();
    let mut typed: gate::manifest::Manifest = serde_json::from_value(value.clone()).unwrap();
    gate::manifest::seal(&mut typed);
    value["digest"] = Value::String(typed.digest.to_string());
    std::fs::write(&path, gate::manifest::render(&typed)).unwrap();
    test.run(&["verify", text(&first, "/run/id")]).status(0);
    test.run(&["verify"]).status(1).stdout_has(&format!(
        "FAIL  chain broken: run {} links run {} with digest {}",
        text(&second, "/run/id"),
        text(&first, "/run/id"),
        text(&first, "/digest")
    ));
}

#[test]
fn verify_fails_on_each_kind_of_tampering() {
    let test = repository();
    run(&test, &["run", "all"], 0);
    let path = latest(&test);
    let original = std::fs::read_to_string(&path).unwrap();
    let tamper = |edit: &dyn Fn(&mut Value), expect: &str| {
        let mut value: Value = serde_json::from_str(&original).unwrap();
        edit(&mut value);
        let mut text = gate::manifest::canonical(&value, true);
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        test.run(&["verify"]).status(1).stdout_has(expect);
        std::fs::write(&path, &original).unwrap();
    };
    tamper(
        &|v| v["result"]["gates"]["broken"]["outcome"] = "passed".into(),
        "FAIL  digest: the manifest says",
    );
    tamper(
        &|v| v["execution"]["build"]["status"] = "cached".into(),
        "FAIL  digest: the manifest says",
    );
    tamper(
        &|v| {
            v["result"]["gates"]["build"]["outputs"][0]["blake3"] =
                blake3::hash(b"forged").to_hex().as_str().into()
        },
        "FAIL  result digest: the manifest says",
    );
    tamper(
        &|v| {
            v["result"]["gates"]
                .as_object_mut()
                .unwrap()
                .remove("check");
            v["execution"].as_object_mut().unwrap().remove("check");
        },
        "FAIL  digest: the manifest says",
    );
    tamper(
        &|v| v["result"]["gates"]["build"]["surprise"] = true.into(),
        "FAIL  schema: ",
    );
    // Layout is part of the record too: a reformatted manifest is not the one written.
    std::fs::write(&path, original.replacen("  ", "\t", 1)).unwrap();
    test.run(&["verify"])
        .status(1)
        .stdout_has("FAIL  not in canonical form: first difference at byte 2 (line 2)");
    std::fs::write(&path, &original).unwrap();
    test.run(&["verify"]).status(0);

    // Drift on disk, file by file.
    test.write("out/all.txt", b"hello\nworld!\n");
    std::fs::set_permissions(
        test.path("out/bin/tool"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let output = test.run(&["verify"]);
    output
        .status(1)
        .stdout_has("FAIL  output out/all.txt (build): modified: 13 bytes, blake3 ")
        .stdout_has("FAIL  output out/bin/tool (build): mode 700 (recorded: 755)")
        .stdout_has("(2 problems)");
    std::fs::remove_file(test.path("out/all.txt")).unwrap();
    test.run(&["verify"])
        .status(1)
        .stdout_has("FAIL  output out/all.txt (build): missing");
}

#[test]
fn a_single_changed_byte_anywhere_in_a_manifest_is_detected() {
    let test = Test::new()
        .gates(r#"gate "g" { inputs "a"; outputs "b"; run "cp a b" }"#)
        .file("a", "x\n");
    run(&test, &["run"], 0);
    let path = latest(&test);
    let original = std::fs::read(&path).unwrap();
    assert!(gate::manifest::verify(&path, test.root()).holds());
    let copy = test.path("copy.json");
    let mut undetected = Vec::new();
    for at in 0..original.len() {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&copy, &bytes).unwrap();
        if gate::manifest::verify(&copy, test.root()).holds() {
            undetected.push(at);
        }
    }
    assert!(
        undetected.is_empty(),
        "edits at bytes {undetected:?} of {} went unnoticed",
        original.len()
    );
}

#[test]
fn no_secret_from_the_environment_lands_in_the_state_directory() {
    const CANARY: &str = "canary-5f1e9c0d7a";
    let test = Test::new()
        .gates(
            r#"
gate "uses" {
    inputs "a"
    outputs "b"
    pass-env "PASSED_SECRET"
    hash-env "HASHED_SECRET"
    env DECLARED="visible-by-design"
    run "test -n \"$PASSED_SECRET\" && test -n \"$HASHED_SECRET\" && cp a b"
}
gate "fails" {
    inputs "a"
    pass-env "PASSED_SECRET"
    run "test -z \"$PASSED_SECRET\""
}
gate "unrelated" { run "true" }
"#,
        )
        .file("a", "x\n")
        .env("PASSED_SECRET", CANARY)
        .env("HASHED_SECRET", CANARY)
        .env("UNDECLARED_SECRET", CANARY);
    let manifest = run(&test, &["run", "--manifest", "artifacts/run.json"], 1);
    let gates = &manifest["result"]["gates"];
    assert_eq!(
        gates["uses"]["pass_env"],
        serde_json::json!(["PASSED_SECRET"])
    );
    assert_eq!(
        text(gates, "/uses/hash_env/HASHED_SECRET"),
        blake3::hash(CANARY.as_bytes()).to_hex().as_str(),
        "hash-env: the name and the digest of the value"
    );
    assert_eq!(text(gates, "/uses/env/DECLARED"), "visible-by-design");
    // Every report, too: JUnit, the trace, GitHub Actions' commands and step summary, and the
    // HTML page, from a cached rerun (a failed gate's log tail is in most of them).
    let summary = test.path("artifacts/summary.md");
    let reports = test
        .command(&[
            "run",
            "--junit",
            "artifacts/junit.xml",
            "--trace",
            "artifacts/trace.json",
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("run gate");
    assert_eq!(reports.status.code(), Some(1));
    test.run(&["report"]).status(0);
    let holds = |bytes: &[u8]| bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());
    assert!(
        !holds(&reports.stdout),
        "GitHub Actions commands hold the secret"
    );
    assert!(!holds(&reports.stderr));
    let mut scanned = Vec::new();
    for path in files_under(&test.path(".gate"))
        .into_iter()
        .chain(files_under(&test.path("artifacts")))
    {
        let bytes = std::fs::read(&path).unwrap();
        assert!(!holds(&bytes), "{} holds the secret", path.display());
        scanned.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for report in [
        "run.json",
        "junit.xml",
        "trace.json",
        "summary.md",
        "report.html",
    ] {
        assert!(
            scanned.iter().any(|name| name == report),
            "{report} was scanned"
        );
    }
    assert!(scanned.len() > 10, "the scan saw the state: {scanned:?}");
}

#[test]
fn the_manifest_can_also_be_written_elsewhere_and_verified_there() {
    let test = repository();
    run(
        &test,
        &["run", "build", "--manifest", "ci/artifacts/manifest.json"],
        0,
    );
    let copy = test.path("ci/artifacts/manifest.json");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(latest(&test)).unwrap()
    );
    test.run(&["verify", "ci/artifacts/manifest.json"])
        .status(0)
        .stdout_has("ok  input lists: 1 intact");
    // From elsewhere in the tree, the root is found the usual way, and the paths given are
    // taken from where gate was started, not from the root the run works in.
    let test = test.cwd("src");
    test.run(&["verify", "../ci/artifacts/manifest.json"])
        .status(0);
    test.run(&[
        "run",
        "build",
        "--manifest",
        "out/manifest.json",
        "--junit",
        "out/junit.xml",
        "--trace",
        "out/trace.json",
    ])
    .status(0);
    for file in ["manifest.json", "junit.xml", "trace.json"] {
        assert!(
            test.path(&format!("src/out/{file}")).is_file(),
            "src/out/{file}"
        );
        assert!(!test.path(&format!("out/{file}")).exists(), "out/{file}");
    }
    test.run(&["verify", "out/manifest.json"]).status(0);
}

/// Runs git in the test's repository with a fixed identity and commit date.
fn git(test: &Test, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(args)
        .current_dir(test.root())
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_source_names_the_graph_and_the_commit() {
    let test = repository();
    let git = |args: &[&str]| git(&test, args);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "init"]);
    let manifest = run(&test, &["run", "build"], 0);
    let source = &manifest["source"];
    assert_eq!(text(source, "/git/commit"), git(&["rev-parse", "HEAD"]));
    assert_eq!(source["git"]["dirty"], false, "{source:#}");
    assert_eq!(source["source_date_epoch"], 1_767_323_045);
    let files: Vec<&str> = source["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| text(f, "/path"))
        .collect();
    assert_eq!(files, ["gates.kdl"]);

    // The graph digest is the digest of the canonical gates.kdl: comments and layout do not
    // change it, a command does.
    let canonical = test.run(&["graph", "--format", "kdl"]);
    canonical.status(0);
    assert_eq!(
        text(source, "/graph"),
        blake3::hash(canonical.stdout.as_bytes()).to_hex().as_str()
    );
    test.write(
        "gates.kdl",
        format!("// reformatted\n\n{}\n", GATES.replace("    ", "\t")).as_bytes(),
    );
    let relaid = run(&test, &["run", "build"], 0);
    assert_eq!(relaid["source"]["graph"], source["graph"]);
    assert_eq!(
        relaid["source"]["git"]["dirty"], true,
        "gates.kdl is modified"
    );
    test.write(
        "gates.kdl",
        GATES.replace("cat src", "cat -- src").as_bytes(),
    );
    let changed = run(&test, &["run", "build"], 0);
    assert_ne!(changed["source"]["graph"], source["graph"]);
}

#[test]
fn a_damaged_previous_manifest_starts_a_new_chain() {
    let test = repository();
    run(&test, &["run", "build"], 0);
    std::fs::write(latest(&test), "{ not json").unwrap();
    let output = test.run(&["run", "build"]);
    output
        .status(0)
        .stderr_has("is damaged")
        .stderr_has("this run starts a new chain");
    let manifest = json(&latest(&test));
    assert_eq!(manifest["previous"], Value::Null);
    test.run(&["verify"]).status(0);
}

#[test]
fn old_runs_are_trimmed_with_the_input_lists_only_they_used() {
    let test = Test::new()
        .gates(r#"gate "g" { inputs "a"; run "true" }"#)
        .file("a", "0\n");
    for round in 0..=gate::manifest::KEPT_RUNS + gate::manifest::KEPT_RUNS / 5 {
        test.write("a", format!("{round}\n").as_bytes());
        test.run(&["run"]).status(0);
    }
    let runs = gate::manifest::run_ids(&test.path(".gate/runs"));
    assert_eq!(runs.len(), gate::manifest::KEPT_RUNS);
    let lists = std::fs::read_dir(test.path(".gate/runs/inputs"))
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".json")
        })
        .count();
    let memos = std::fs::read_dir(test.path(".gate/runs/inputs/keys"))
        .unwrap()
        .count();
    assert_eq!(memos, gate::manifest::KEPT_RUNS, "one memo per kept list");
    assert_eq!(lists, gate::manifest::KEPT_RUNS, "one list per kept run");
    test.run(&["verify"])
        .status(0)
        .stdout_has("is no longer kept; checked 49 link(s)");
}

#[test]
fn the_canonical_graph_is_itself_a_graph_with_the_same_canonical_form() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    for graph in ["gates.kdl", "examples/basics/gates.kdl"] {
        let test = Test::new();
        let canonical = test.run(&[
            "-f",
            &repository.join(graph).display().to_string(),
            "graph",
            "--format",
            "kdl",
        ]);
        canonical.status(0);
        assert!(
            canonical.stdout.contains("gate "),
            "{graph}: {}",
            canonical.stdout
        );
        let test = test.file("gates.kdl", &canonical.stdout);
        test.run(&["check"]).status(0);
        test.run(&["graph", "--format", "kdl"])
            .status(0)
            .stdout(&canonical.stdout);
    }
}

#[test]
fn dirty_means_the_run_did_not_read_exactly_the_commit() {
    let test = repository().file("README.md", "read me\n");
    git(&test, &["add", "-A"]);
    git(&test, &["commit", "-qm", "init"]);
    let dirty =
        |test: &Test| run(test, &["run", "build", "check"], 0)["source"]["git"]["dirty"].clone();
    assert_eq!(
        dirty(&test),
        false,
        "outputs under out/ are generated, not untracked inputs"
    );

    // Touched but unchanged: the stats differ, git confirms the content does not.
    let a = test.path("src/a.txt");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(dirty(&test), false, "a touched file is not a change");

    test.write("src/b.txt", b"world, changed\n");
    assert_eq!(dirty(&test), true, "a modified input");
    git(&test, &["checkout", "--", "src/b.txt"]);
    assert_eq!(dirty(&test), false);

    test.write("README.md", b"edited\n");
    assert_eq!(
        dirty(&test),
        true,
        "a modified tracked file the run did not read"
    );
    git(&test, &["add", "README.md"]);
    assert_eq!(dirty(&test), true, "a staged change");
    git(&test, &["reset", "-q", "--hard"]);
    assert_eq!(dirty(&test), false);

    test.write("notes.txt", b"not read by any gate\n");
    assert_eq!(dirty(&test), false, "an untracked file no gate reads");
    test.write("src/new.txt", b"read by build\n");
    assert_eq!(dirty(&test), true, "an untracked file a gate reads");
}

#[test]
fn facts_are_copied_into_the_gate_result_and_come_back_with_a_restore() {
    let test = Test::new().gates(
        r##"
        gate "train" {
            run #"mkdir -p out && printf '{"final_loss": 0.1875, "epochs": 30, "ok": true, "note": null, "sha": "ab12"}' > out/summary.json"#
            inputs "gates.kdl"
            outputs "out"
            facts "out/summary.json"
        }
        "##,
    );
    let expected = serde_json::json!({
        "epochs": 30,
        "final_loss": "0.1875",
        "note": null,
        "ok": true,
        "sha": "ab12",
    });
    let first = run(&test, &["run"], 0);
    assert_eq!(first["result"]["gates"]["train"]["facts"], expected);
    std::fs::remove_dir_all(test.path("out")).unwrap();
    let second = run(&test, &["run"], 0);
    assert_eq!(second["execution"]["train"]["status"], "cached");
    assert_eq!(second["result"]["gates"]["train"]["facts"], expected);
    test.run(&["verify"]).status(0);
}

#[test]
fn a_pass_without_readable_facts_fails_and_is_not_cached() {
    for (body, reason) in [
        ("", "No such file"),
        ("[1, 2]", "is not a JSON object"),
        (r#"{"loss": [1]}"#, "`loss` is not a scalar"),
        ("{oops", "not JSON"),
    ] {
        let test = Test::new().file("facts.json", body).gates(
            r#"
            gate "g" {
                run "test -s facts.json || rm -f facts.json"
                inputs "gates.kdl"
                facts "facts.json"
            }
            "#,
        );
        let manifest = run(&test, &["run"], 1);
        let result = &manifest["result"]["gates"]["g"];
        assert_eq!(result["outcome"], "failed", "{body}");
        let text = result["reason"].as_str().unwrap_or_default();
        assert!(
            text.contains("facts file") && text.contains(reason),
            "{body}: {text}"
        );
        assert!(result.get("facts").is_none());
        // Not stored: the next run runs it again.
        test.run(&["run"]).status(1).stdout_has("failed  g");
    }
}
