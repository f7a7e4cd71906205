//! The gates.kdl language and target selection, through `run`, `list`, `graph` and `check`.

use crate::test::Test;

#[test]
fn include_is_relative_to_the_including_file_and_read_once() {
    let test = Test::new()
        .gates(
            r#"
            include "tasks/python.kdl" "tasks/extra.kdl"
            gate "all" { deps "lint" "extra" }
            "#,
        )
        .file("tasks/python.kdl", r#"include "common.kdl"; gate "lint" { deps "common"; run "echo lint >> order.log" }"#)
        .file("tasks/extra.kdl", r#"include "common.kdl"; gate "extra" { deps "common"; run "echo extra >> order.log" }"#)
        .file("tasks/common.kdl", r#"gate "common" { run "echo common >> order.log" }"#);
    test.run(&["run", "-j", "1"]).status(0);
    assert_eq!(test.read("order.log"), "common\nextra\nlint\n");
}

#[test]
fn vars_substitute_and_can_be_overridden() {
    let test = Test::new().gates(
        r#"
        vars { floor 80; dir "out" }
        env FLOOR="${floor}"
        gate "g" {
            cwd "${dir}"
            outputs "${dir}/x.txt"
            run "echo ${floor} $FLOOR $${HOME:+home} > x.txt"
        }
        "#,
    );
    std::fs::create_dir_all(test.path("out")).unwrap();
    test.run(&["run"]).status(0);
    assert_eq!(test.read("out/x.txt"), "80 80 home\n");
    test.run(&["run", "--var", "floor=95"]).status(0);
    assert_eq!(test.read("out/x.txt"), "95 95 home\n");
}

#[test]
fn a_later_var_definition_overrides_an_included_one() {
    let test = Test::new()
        .gates(
            r#"
            include "preset.kdl"
            vars { floor "90" }
            "#,
        )
        .file(
            "preset.kdl",
            r#"vars { floor "10" }; gate "g" { run "echo ${floor} > f.txt" }"#,
        );
    test.run(&["run"]).status(0);
    assert_eq!(test.read("f.txt"), "90\n");
}

#[test]
fn default_all_and_tags_select_gates() {
    let gates = r#"
        default "lint"
        gate "lint" { tags "fast"; run "echo lint >> ran.log" }
        gate "test" { tags "slow"; run "echo test >> ran.log" }
        gate "docs" { tags "fast" "docs"; run "echo docs >> ran.log" }
    "#;
    let ran = |args: &[&str]| {
        let test = Test::new().gates(gates);
        test.run(args).status(0);
        let mut lines: Vec<String> = test.read("ran.log").lines().map(str::to_owned).collect();
        lines.sort();
        lines.join(" ")
    };
    assert_eq!(ran(&["run"]), "lint");
    assert_eq!(ran(&["run", "all"]), "docs lint test");
    assert_eq!(ran(&["run", "--tag", "fast"]), "docs lint");
    assert_eq!(ran(&["run", "test", "--tag", "docs"]), "docs test");
}

#[test]
fn a_gate_named_all_is_used_as_written() {
    let test = Test::new().gates(
        r#"
        gate "all" { deps "a" }
        gate "a" { run "echo a >> ran.log" }
        gate "b" { run "echo b >> ran.log" }
        "#,
    );
    test.run(&["run"]).status(0);
    assert_eq!(test.read("ran.log"), "a\n");
}

#[test]
fn unknown_targets_and_tags_suggest_the_closest() {
    let test = Test::new().gates(r#"gate "lint" { tags "fast"; run "true" }"#);
    test.run(&["run", "lnit"]).status(2).stderr(
        "gate::plan::unknown_target

  × unknown target `lnit`
  help: did you mean `lint`?
error: 1 problem found in gates.kdl
",
    );
    test.run(&["run", "--tag", "fsat"])
        .status(2)
        .stderr_has("no gate has tag `fsat`")
        .stderr_has("did you mean `fast`?");
    test.run(&["run", "--var", "nope=1"])
        .status(2)
        .stderr_has("unknown variable `nope`");
    test.run(&["run", "--var", "novalue"])
        .status(2)
        .stderr_has("`--var novalue` is not of the form NAME=VALUE");
}

#[test]
fn gates_kdl_is_found_in_a_parent_directory() {
    let test = Test::new()
        .gates(r#"gate "where" { run "pwd > where.txt" }"#)
        .cwd("deep/er");
    test.run(&["run"]).status(0);
    assert!(
        test.path("where.txt").exists(),
        "runs in the root, not the cwd"
    );
}

#[test]
fn list_prints_a_table_and_json() {
    let test = Test::new().gates(
        r#"
        gate "lint" { description "Ruff, no fixes"; tags "fast"; run "true" }
        gate "test" { deps "lint"; run "true" }
        gate "ci" { description "What CI runs"; deps "test" "lint" }
        "#,
    );
    test.run(&["list"]).status(0).stdout(
        "GATE  DESCRIPTION     DEPS        TAGS
lint  Ruff, no fixes              fast
test                  lint
ci    What CI runs    lint, test
",
    );
    let output = test.run(&["list", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json[2]["name"], "ci");
    assert_eq!(json[2]["group"], true);
    assert_eq!(json[2]["deps"], serde_json::json!(["lint", "test"]));
    assert_eq!(json[0]["line"], 2);
    assert_eq!(json[0]["file"], "gates.kdl");
}

#[test]
fn graph_renders_dot_mermaid_and_json() {
    let test = Test::new().gates(
        r#"
        gate "lint" { run "true" }
        gate "test" { deps "lint"; run "true" }
        gate "docs" { run "true" }
        gate "ci" { deps "test" "docs" }
        "#,
    );
    test.run(&["graph"]).status(0).stdout(
        r#"digraph gates {
    rankdir=LR;
    node [shape=box];
    "docs";
    "lint";
    "test";
    "ci" [shape=ellipse];
    "test" -> "lint";
    "ci" -> "docs";
    "ci" -> "test";
}
"#,
    );
    test.run(&["graph", "test", "--format", "mermaid"])
        .status(0)
        .stdout(
            r#"flowchart LR
    g0["lint"]
    g1["test"]
    g1 --> g0
"#,
        );
    let output = test.run(&["graph", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json["gates"][3]["name"], "ci");
    test.run(&["graph", "tset"])
        .status(2)
        .stderr_has("did you mean `test`?");
}

#[test]
fn check_validates_and_runs_nothing() {
    let test = Test::new().gates(r#"gate "a" { run "touch ran" }; gate "g" { deps "a" }"#);
    test.run(&["check"])
        .status(0)
        .stdout("gates.kdl: 2 gates (1 group) in 1 file, no problems\n");
    assert!(!test.path("ran").exists());
}

#[test]
fn an_empty_graph_runs_nothing() {
    let test = Test::new().gates("// nothing yet\n");
    test.run(&["run"])
        .status(0)
        .stdout("\ngate: nothing to run in [T]\n");
    test.run(&["check"]).status(0);
}

#[test]
fn completions_are_generated() {
    let test = Test::new();
    let output = test.run(&["completions", "bash"]);
    output.status(0).stdout_has("_gate()");
    test.run(&["completions", "zsh"])
        .status(0)
        .stdout_has("#compdef gate");
}

#[test]
fn help_reads_well() {
    let test = Test::new();
    test.run(&["--help"])
        .status(0)
        .stdout_has("Run a repository's quality gates")
        .stdout_has("Exit codes: 0 nothing failed");
    test.run(&["run", "--help"])
        .status(0)
        .stdout_has("--fail-fast")
        .stdout_has("--dry-run")
        .stdout_has("--strict");
    test.run(&["run", "--jobs", "0"]).status(2);
    test.run(&["frobnicate"]).status(2);
}

#[test]
fn vars_may_refer_to_other_vars_in_any_order() {
    let test = Test::new().gates(
        r#"
        vars { out "${dir}/out"; dir "build"; literal "$${dir}" }
        gate "g" { run "echo ${out} '${literal}' > v.txt" }
        "#,
    );
    test.run(&["run"]).status(0);
    assert_eq!(test.read("v.txt"), "build/out ${dir}\n");
    test.run(&["run", "--var", "dir=dist"]).status(0);
    assert_eq!(test.read("v.txt"), "dist/out ${dir}\n");
}

#[test]
fn a_variable_cycle_or_unknown_reference_is_an_error() {
    let test = Test::new().gates("vars { a \"${b}\"; b \"x${a}\"; c \"${dri}\"; dir \"d\" }\n");
    let output = test.run(&["check"]);
    output
        .status(2)
        .stderr_has("× variable cycle: a -> b -> a")
        .stderr_has("× unknown variable `dri`")
        .stderr_has("did you mean `dir`?");
}
